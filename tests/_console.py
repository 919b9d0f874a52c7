"""Test harness: the real Simulation loop with the console attached, real keys, real sockets."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import msgspec
from _keys import DeadlineSocket, key_client

from townlet.client.console import ConsoleClient
from townlet.config import TownletConfig, default_config, with_agents
from townlet.config.console import ConsoleConfig
from townlet.console.hook import attach
from townlet.front.supervise import start_front
from townlet.security import init_key_dir, issue_key, parse_ttl
from townlet.sim.loop import IDLE_SLEEP, Simulation

__all__ = ["Town"]


class Town:
    """``Simulation.step()`` on a thread (``run()`` installs signal handlers, main thread
    only) with the console attached in this process, or (``front=True``) served by a
    front process exactly as ``townlet run`` serves it."""

    def __init__(self, tmp: Path, *, agents: int = 40, paused: bool = False,
                 config: TownletConfig | None = None, front: bool = False,
                 **console: object) -> None:
        self.kdir = tmp / "keys"
        init_key_dir(self.kdir)
        self.keys = {role: issue_key(self.kdir, f"{role}1", role, parse_ttl("1h"))[1]
                     for role in ("viewer", "operator", "admin")}
        opts = {"audit_path": str(tmp / "audit" / "audit.jsonl"), **console}
        cfg = msgspec.structs.replace(with_agents(config or default_config(), agents),
                                      console=msgspec.structs.replace(ConsoleConfig(), **opts))
        self.cfg = cfg.console
        self.sim = Simulation(cfg, seed=0)
        self.sim.world.step()  # compile the kernel now, not while a client waits
        self.sim.paused = paused
        self.world = self.sim.world
        if front:  # as `townlet run` serves it: a front process, the link on this loop
            self.front = start_front(self.sim, self.cfg, keys_dir=str(self.kdir),
                                     backoff=cfg.telemetry,
                                     snapshot_root=str(tmp / "snapshots"),
                                     endpoint="tcp://127.0.0.1:0")
            self.endpoint = self.front.link.endpoint
        else:
            self.server = attach(self.sim, self.cfg, keys_dir=self.kdir,
                                 snapshot_root=tmp / "snapshots",
                                 endpoint="tcp://127.0.0.1:0")
            self.endpoint = self.server.endpoint
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.sim.step():
                self.ticks += 1
            else:
                time.sleep(IDLE_SLEEP)

    def client(self, role: str = "viewer", **kw: object) -> ConsoleClient:
        # The wait ends at the reply; a command's first run may compile its kernel
        # (kill, spawn...), which takes seconds more on a loaded machine.
        kw.setdefault("timeout", 60.0)
        return ConsoleClient(self.endpoint, self.kdir / "server.key", self.keys[role], **kw)

    def dealer(self, role: str = "viewer", key: Path | None = None) -> DeadlineSocket:
        """A bare DEALER with the key of ``role`` (or ``key``), for sending frames the
        client never would."""
        return key_client(self.endpoint, self.kdir, key or self.keys[role])

    def stop_loop(self) -> None:
        """Stop ticking and draining (the server keeps its sockets)."""
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        self.stop_loop()
        self.sim.close()
