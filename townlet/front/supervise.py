"""The simulation's side of the console front: the link hook and the supervised child.

:func:`start_front` (called by ``townlet run``'s services) makes the owner-only run
directory, binds the link there, writes the settings, starts ``townlet console-front``
and waits for it to be ready. :class:`FrontHook` is then the tick hook: it serves the link
(:class:`~townlet.console.link.ConsoleLink`) and checks the child like the publisher's
supervisor does (a front that dies is restarted, with the same backoff, on the same
endpoint, so clients reconnect). Closing it stops the front and removes the directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

from townlet.config.console import ConsoleConfig
from townlet.config.telemetry import TelemetryConfig
from townlet.console.link import ConsoleLink, make_run_dir
from townlet.front.process import CONFIG_FILE
from townlet.publish.supervise import PublisherSupervisor
from townlet.security.keys import REGISTRY_FILE

__all__ = ["FrontHook", "FrontSupervisor", "start_front"]


class FrontSupervisor(PublisherSupervisor):
    """Keeps one ``townlet console-front`` running for a run directory (restart policy:
    the ``telemetry:`` section's backoff, shared with the publisher)."""

    name = "console_front"

    def __init__(self, run_dir: Path, key_dir: str, *, endpoint: str | None,
                 snapshot_root: str | None, backoff: TelemetryConfig,
                 ready_timeout: float = 60.0) -> None:
        self.run_dir = run_dir
        self.endpoint = endpoint
        self.snapshot_root = snapshot_root
        super().__init__(None, backoff, key_dir, ready_timeout=ready_timeout)
        self.endpoint = (self.ready or {}).get("endpoint", endpoint)  # restarts bind it again

    def _spawn(self, restarts: int) -> subprocess.Popen:
        args = [sys.executable, "-m", "townlet", "console-front", "--run-dir", str(self.run_dir),
                "--parent-pid", str(os.getpid()), "--key-dir", self.key_dir,
                "--restarts", str(restarts)]
        if self.endpoint is not None:
            args += ["--endpoint", self.endpoint]
        if self.snapshot_root is not None:
            args += ["--snapshot-root", self.snapshot_root]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def close(self, timeout: float = 10.0) -> None:
        """Ask the front to stop (SIGTERM: it flushes its audit log) and wait for it."""
        if not self._closed and self.state in ("up", "starting") and self.proc.poll() is None:
            self.proc.terminate()
        super().close(timeout)


class FrontHook:
    """The tick hook of a run whose console is served by a front process."""

    def __init__(self, link: ConsoleLink, supervisor: FrontSupervisor) -> None:
        self.link = link
        self.supervisor = supervisor

    def before(self, world: Any) -> None:
        """Serve the link (at most one batch), then check the front (never blocks)."""
        self.link.before(world)
        self.supervisor.check()

    def after(self, world: Any) -> None:
        """Nothing after a tick: the link is served before it."""

    def close(self) -> None:
        """Stop the front, close the link, remove the run directory."""
        try:
            self.supervisor.close()
        finally:
            self.link.close()
            shutil.rmtree(self.link.run_dir, ignore_errors=True)


def start_front(sim: Any, cfg: ConsoleConfig, *, keys_dir: str, backoff: TelemetryConfig,
                snapshot_root: str | None = None, endpoint: str | None = None) -> FrontHook:
    """Start the console front for ``sim`` and hook the link in; ``sim.console`` becomes
    the link and ``sim.services["console"]`` the front's status. Raises
    ``PublisherStartError`` (naming the front) when it exits before it is ready."""
    run_dir = make_run_dir()
    try:
        (run_dir / CONFIG_FILE).write_bytes(msgspec.json.encode(cfg))
        link = ConsoleLink(cfg, run_dir, registry_path=Path(keys_dir) / REGISTRY_FILE,
                           control=sim, services=sim.service_health,
                           snapshot_root=snapshot_root)
        link.publish(sim.world, time.monotonic())
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    try:
        sup = FrontSupervisor(run_dir, str(keys_dir), endpoint=endpoint or cfg.endpoint,
                              snapshot_root=snapshot_root, backoff=backoff)
    except BaseException:
        link.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    link.endpoint = sup.endpoint
    hook = FrontHook(link, sup)
    sim.add_hook(hook)
    sim.console = link
    sim.services["console"] = sup.status
    return hook
