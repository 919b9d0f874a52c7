"""Plug the console into :class:`townlet.sim.loop.Simulation` as a tick hook.

``attach`` is all ``townlet run`` needs::

    sim = Simulation(cfg, seed)
    server = attach(sim, cfg.console, keys_dir=cfg.keys.dir, snapshot_root=...)  # started
    ...
    sim.close()                                            # closes the server too

The simulation is the server's run control, so ``pause``/``step``/``speed``
act on ``sim.paused``/``sim.pending_steps``/``sim.target_tps``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from townlet.config.console import ConsoleConfig
from townlet.console.server import ConsoleServer
from townlet.security.keys import REGISTRY_FILE, SERVER_SECRET_FILE

__all__ = ["ConsoleHook", "attach"]


class ConsoleHook:
    """Drains the console at the start of every tick (also while paused)."""

    def __init__(self, server: ConsoleServer, max_per_tick: int) -> None:
        self.server = server
        self.max_per_tick = max_per_tick

    def before(self, world: Any) -> None:
        """Execute up to ``max_per_tick`` queued requests before the world steps."""
        self.server.drain(world, self.max_per_tick)

    def after(self, world: Any) -> None:
        """Nothing to do after a tick: responses were handed to the I/O thread in ``before``."""
        return

    def close(self) -> None:
        """Stop the server (I/O thread, ZAP handler, audit file)."""
        self.server.close()


def attach(sim: Any, cfg: ConsoleConfig, *, keys_dir: str | os.PathLike[str],
           snapshot_root: str | os.PathLike[str] | None = None,
           endpoint: str | None = None) -> ConsoleServer:
    """Start a console server for ``sim`` (keys from ``keys_dir``, the config's
    ``keys.dir``) and hook it in; ``health`` reports ``sim.service_health()``.

    Raises ``KeyFileError``/``RuntimeError`` with the fix in the message when the
    keys are missing or the endpoint cannot be bound.
    """
    keys = Path(keys_dir)
    server = ConsoleServer(cfg, keys / REGISTRY_FILE, keys / SERVER_SECRET_FILE,
                           snapshot_root=snapshot_root, endpoint=endpoint, control=sim,
                           services=sim.service_health, registry=sim.registry)
    server.start()
    sim.add_hook(ConsoleHook(server, cfg.max_per_tick))
    return server
