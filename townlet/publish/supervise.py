"""``PublisherSupervisor``: the simulation's watch over its publisher child.

The first start blocks until the publisher is ready (a run without its
publisher should fail loudly). Afterwards ``check()`` runs on the simulation
thread at most every ``CHECK_SECONDS`` and never blocks: it reaps a publisher
that died (so no zombie is left), logs it, and restarts it after a delay that
doubles with every failed attempt up to ``restart_backoff_max_seconds``. The
new publisher attaches to the same ring and binds the same endpoint; it starts
a new stream, so subscribers resynchronise on its first keyframe. ``status()``
is what the console's ``health`` reports.
"""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Literal

import msgspec
import structlog

from townlet.config.telemetry import TelemetryConfig
from townlet.publish.spawn import PublisherStartError, read_ready, spawn_publisher, wait_ready

__all__ = ["CHECK_SECONDS", "NOT_STARTED", "PublisherStatus", "PublisherSupervisor"]

_log = structlog.get_logger("townlet.publish.supervisor")

CHECK_SECONDS = 0.05
"""Least time between two liveness checks (one waitpid each)."""


class PublisherStatus(msgspec.Struct, frozen=True):
    """The publisher as the simulation sees it."""

    ok: bool
    """True while a publisher is up and serving."""
    state: Literal["up", "down", "starting", "stopped"]
    pid: int | None
    endpoint: str | None
    restarts: int
    """Publishers started after the first one died."""
    last_exit: str | None
    """How the last publisher ended (``killed by SIGKILL``, ``exit status 1``)."""
    down_seconds: float | None
    """Time since the publisher was found dead (None while up)."""


NOT_STARTED = PublisherStatus(ok=False, state="starting", pid=None, endpoint=None, restarts=0,
                              last_exit=None, down_seconds=None)
"""A child whose first start has not yet returned: what ``health`` shows for it from the
run's first summary on, until its supervisor reports."""


def describe_exit(returncode: int) -> str:
    """``exit status N`` or ``killed by SIGNAME`` for a Popen return code."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


class PublisherSupervisor:
    """Starts the publisher for ``ring`` and keeps one running until ``close()``.

    A subclass supervises another child the same way by overriding ``_spawn`` and
    ``name`` (the console front process, :mod:`townlet.front.supervise`).
    """

    name = "publisher"
    """What the child is called in log events and errors."""

    def __init__(self, ring, telemetry: TelemetryConfig, key_dir: str, *,
                 ready_timeout: float = 30.0) -> None:
        self.ring = ring
        self.cfg = telemetry
        self.key_dir = key_dir
        self.ready_timeout = ready_timeout
        self.restarts = 0
        self.last_exit: str | None = None
        self._delay = telemetry.restart_backoff_seconds
        self._next_check = 0.0
        self._down_since: float | None = None
        self._restart_at = 0.0
        self._deadline = 0.0
        self._buf = bytearray()
        self._closed = False
        self.proc: subprocess.Popen = self._spawn(0)
        try:
            self.ready: dict | None = wait_ready(self.proc, ready_timeout, self.name)
        except PublisherStartError:
            self._reap(kill=True)
            raise
        self.state: Literal["up", "down", "starting", "stopped"] = "up"
        self._up_since = time.monotonic()

    def _spawn(self, restarts: int) -> subprocess.Popen:
        return spawn_publisher(self.ring, self.cfg, key_dir=self.key_dir, restarts=restarts)

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Notice a dead publisher, restart it when its backoff is over (never blocks)."""
        now = time.monotonic()
        if self._closed or now < self._next_check:
            return
        self._next_check = now + CHECK_SECONDS
        if self.state == "up" and self.proc.poll() is not None:
            self.last_exit = describe_exit(self.proc.returncode)
            _log.warning(f"{self.name}_died", pid=self.proc.pid, exit=self.last_exit,
                         restarts=self.restarts)
            if now - self._up_since >= self.cfg.restart_backoff_max_seconds:
                self._delay = self.cfg.restart_backoff_seconds  # it had been up for long
            self._reap(kill=False)
            self._down_since = now
            self._schedule(now)
        elif self.state == "down" and now >= self._restart_at:
            self.proc = self._spawn(self.restarts + 1)
            self._buf.clear()
            self._deadline = now + self.ready_timeout
            self.state = "starting"
        elif self.state == "starting":
            self._poll_start(now)

    def _poll_start(self, now: float) -> None:
        try:
            ready = read_ready(self.proc, self._buf, what=self.name)
        except (PublisherStartError, ValueError) as exc:
            self._failed_start(now, str(exc))
            return
        if ready is None:
            if now >= self._deadline:
                self._failed_start(now, f"not ready after {self.ready_timeout}s")
            return
        self.ready, self.state, self._up_since = ready, "up", now
        self.restarts += 1
        self._down_since = None
        _log.info(f"{self.name}_restarted", pid=self.proc.pid, endpoint=ready.get("endpoint"),
                  stream=ready.get("stream"), restarts=self.restarts)

    def _failed_start(self, now: float, why: str) -> None:
        _log.warning(f"{self.name}_restart_failed", pid=self.proc.pid, reason=why)
        self._reap(kill=True)
        self.last_exit = describe_exit(self.proc.returncode)
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        self.state = "down"
        self._restart_at = now + self._delay
        _log.info(f"{self.name}_restart_scheduled", in_seconds=round(self._delay, 3))
        self._delay = min(2 * self._delay, self.cfg.restart_backoff_max_seconds)

    def _reap(self, *, kill: bool) -> None:
        """Wait for the current child (killing it first if asked) and close its pipe."""
        if kill and self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    # ------------------------------------------------------------------ facts
    def status(self) -> PublisherStatus:
        """Current state (safe to call from any thread: it only reads attributes)."""
        down = self._down_since
        up = self.state == "up"
        return PublisherStatus(
            ok=up, state=self.state,
            pid=self.proc.pid if self.state in ("up", "starting") else None,
            endpoint=(self.ready or {}).get("endpoint") if up else None,
            restarts=self.restarts, last_exit=self.last_exit,
            down_seconds=None if down is None else round(time.monotonic() - down, 3))

    def close(self, timeout: float = 10.0) -> None:
        """Wait for the publisher to leave (the ring must be closed first), else stop it."""
        if self._closed:
            return
        self._closed = True
        if self.state in ("up", "starting"):
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        self.state = "stopped"
