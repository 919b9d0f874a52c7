"""Start the publisher as a child process of the simulation (`townlet run` calls this)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

__all__ = ["PublisherStartError", "publisher_args", "spawn_publisher", "wait_ready"]


class PublisherStartError(RuntimeError):
    """The publisher exited or stayed silent instead of reporting ready."""


def publisher_args(ring_name: str, doorbell: str | None, telemetry, *,
                   key_dir: str | None = None) -> list[str]:
    """Command-line arguments of `townlet publish` for a ring and a TelemetryConfig."""
    t = telemetry
    args = ["publish", "--ring", ring_name, "--endpoint", t.endpoint,
            "--keyframe-interval", str(t.keyframe_interval),
            "--keyframe-min-seconds", str(t.keyframe_min_seconds), "--hwm", str(t.hwm),
            "--metrics-port", str(t.metrics_port), "--metrics-host", t.metrics_host,
            "--health-seconds", str(t.health_seconds)]
    if doorbell:
        args += ["--doorbell", doorbell]
    if t.insecure_dev:
        args.append("--insecure-dev")
    else:
        args += ["--key-dir", key_dir or t.key_dir]
    return args


def spawn_publisher(ring, telemetry, *, key_dir: str | None = None,
                    env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `townlet publish` for ``ring`` (a FrameRing) with settings ``telemetry``.

    The child's stdout is a pipe carrying one JSON "ready" line (read it with
    ``wait_ready``); its stderr (JSON logs) is inherited. The publisher exits by
    itself once the ring is closed or the simulation process is gone.
    """
    cmd = [sys.executable, "-m", "townlet",
           *publisher_args(ring.name, ring.doorbell, telemetry, key_dir=key_dir)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env if env is not None else os.environ.copy())


def wait_ready(proc: subprocess.Popen, timeout: float = 30.0) -> dict:
    """Block until the publisher prints its ready line; return it as a dict.

    Raises PublisherStartError if it exits first or says nothing within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise PublisherStartError(f"publisher (pid {proc.pid}) not ready after {timeout}s")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise PublisherStartError(
                    f"publisher exited with status {proc.wait()} before it was ready")
            line += chunk
    return json.loads(line.decode())
