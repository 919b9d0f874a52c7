"""The front process's life: read the run's settings, serve, relay, stop.

``serve`` starts the console server (ZAP handler, CURVE ROUTER, I/O thread) with the
simulation's summary as its view of the town, the optional /metrics, /livez, /readyz
endpoint, and runs the relay on the calling thread until SIGTERM or the simulation's end.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry

from townlet.config.console import ConsoleConfig
from townlet.console.link import SUMMARY_FILE, link_endpoint
from townlet.console.server import ConsoleServer
from townlet.console.summary import SummaryReader
from townlet.front.relay import Relay, front_table
from townlet.ops.http import ProbeServer
from townlet.ops.logging import set_log_context
from townlet.security.keys import REGISTRY_FILE, SERVER_SECRET_FILE, KeyFileError

__all__ = ["CONFIG_FILE", "STALL_SECONDS", "FrontError", "serve"]

CONFIG_FILE = "console.json"
"""The run's ``console:`` settings in the run directory, written by the simulation."""
STALL_SECONDS = 5.0
"""/livez fails when the relay has not turned for this long; /readyz when the simulation
has not written its summary for this long."""


class FrontError(RuntimeError):
    """The front cannot start (settings, keys, endpoint); the message says what to fix."""


class SummaryControl:
    """The run state as the front sees it (read from the summary). Pause, step and speed
    are commands the simulation runs; nothing in the front may change them."""

    def __init__(self, read: Callable[[], Any]) -> None:
        self._read = read

    def _get(self, name: str, default: Any) -> Any:
        s = self._read()
        return default if s is None else getattr(s, name)

    @property
    def paused(self) -> bool:
        return bool(self._get("paused", False))

    @paused.setter
    def paused(self, value: bool) -> None:
        raise RuntimeError("the run state is the simulation's: pause runs there")

    @property
    def target_tps(self) -> float:
        return float(self._get("target_tps", 0.0))

    @target_tps.setter
    def target_tps(self, value: float) -> None:
        raise RuntimeError("the run state is the simulation's: speed runs there")

    @property
    def pending_steps(self) -> int:
        return 0

    @pending_steps.setter
    def pending_steps(self, value: int) -> None:
        raise RuntimeError("the run state is the simulation's: step runs there")


def serve(run_dir: Path, parent_pid: int, key_dir: Path, *, endpoint: str | None,
          snapshot_root: str | None, restarts: int,
          ready: Callable[[dict[str, Any]], object],
          on_term: Callable[[Callable[[], None]], object]) -> None:
    """Serve until SIGTERM (``on_term`` installs the handler) or the simulation exits;
    ``ready`` receives the ready line once clients can connect."""
    try:
        cfg = msgspec.json.decode((run_dir / CONFIG_FILE).read_bytes(), type=ConsoleConfig)
        summary = SummaryReader(run_dir / SUMMARY_FILE)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrontError(f"run directory {run_dir} is not usable: {exc}") from None
    registry = CollectorRegistry()
    try:
        server = ConsoleServer(cfg, key_dir / REGISTRY_FILE, key_dir / SERVER_SECRET_FILE,
                               control=SummaryControl(summary.read),
                               snapshot_root=snapshot_root, endpoint=endpoint,
                               table=front_table(), registry=registry, town=summary.read)
        server.start()
    except (KeyFileError, RuntimeError) as exc:
        summary.close()
        raise FrontError(str(exc)) from None
    relay = Relay(server, link_endpoint(run_dir), parent_pid)
    http = None
    try:
        if cfg.metrics_port:
            http = ProbeServer(registry, host=cfg.metrics_host, port=cfg.metrics_port,
                               live=lambda: _live(relay), ready=lambda: _ready(summary))
            try:
                http.start()
            except OSError as exc:
                raise FrontError(f"cannot serve metrics on {cfg.metrics_host}:"
                                 f"{cfg.metrics_port} ({exc.strerror}); choose another with "
                                 "console.metrics_port") from None
        set_log_context(tick=lambda: _tick(summary))
        on_term(relay.stop.set)
        ready({"event": "ready", "endpoint": server.endpoint, "pid": os.getpid(),
               "metrics_port": http.port if http is not None else None, "restarts": restarts})
        relay.run()
        if not relay.parent_alive():  # the simulation died: nobody else uses its directory
            shutil.rmtree(run_dir, ignore_errors=True)
    finally:
        server.close()
        if http is not None:
            http.close()
        summary.close()


def _tick(summary: SummaryReader) -> int | None:
    s = summary.read()
    return None if s is None else s.tick


def _live(relay: Relay) -> tuple[bool, str]:
    age = time.monotonic() - relay.loop_at
    return age < STALL_SECONDS, f"relay turned {age:.1f}s ago"


def _ready(summary: SummaryReader) -> tuple[bool, str]:
    s = summary.read()
    if s is None:
        return False, "no summary from the simulation yet"
    age = time.monotonic() - s.at
    return age < STALL_SECONDS, f"tick {s.tick}, summary {age:.1f}s old"
