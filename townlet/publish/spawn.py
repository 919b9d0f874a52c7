"""Start the publisher as a child process of the simulation (`townlet run` calls this)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

from townlet.config.paths import KEYS_DIR
from townlet.config.telemetry import PublisherSettings

__all__ = ["PublisherStartError", "publisher_args", "read_ready", "spawn_publisher",
           "wait_ready"]


class PublisherStartError(RuntimeError):
    """The publisher exited or stayed silent instead of reporting ready."""


def publisher_args(ring_name: str, doorbell: str | None, settings: PublisherSettings, *,
                   key_dir: str = KEYS_DIR, restarts: int = 0) -> list[str]:
    """Command-line arguments of `townlet publish`: every PublisherSettings field (of
    ``settings``, e.g. a TelemetryConfig) as its option, plus ring, doorbell and keys."""
    args = ["publish", "--ring", ring_name]
    for name in PublisherSettings.__struct_fields__:
        flag, value = "--" + name.replace("_", "-"), getattr(settings, name)
        if isinstance(value, bool):
            args += [flag] if value else []
        else:
            args += [flag, str(value)]
    if doorbell:
        args += ["--doorbell", doorbell]
    if not settings.insecure_dev:
        args += ["--key-dir", key_dir]
    if restarts:
        args += ["--restarts", str(restarts)]
    return args


def spawn_publisher(ring, settings: PublisherSettings, *, key_dir: str = KEYS_DIR,
                    restarts: int = 0, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `townlet publish` for ``ring`` (a FrameRing) with ``settings``.

    The child's stdout is a pipe carrying one JSON "ready" line (read it with
    ``wait_ready`` or, without blocking, ``read_ready``); its stderr (JSON logs) is
    inherited. The publisher exits by itself once the ring is closed or the
    simulation process is gone.
    """
    cmd = [sys.executable, "-m", "townlet",
           *publisher_args(ring.name, ring.doorbell, settings, key_dir=key_dir,
                           restarts=restarts)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env if env is not None else os.environ.copy())


def read_ready(proc: subprocess.Popen, buf: bytearray, timeout: float = 0.0,
               what: str = "publisher") -> dict | None:
    """Read what the publisher wrote to stdout so far into ``buf`` (waiting at most
    ``timeout``); return the ready line as a dict once complete, else None.

    Raises PublisherStartError if the publisher closed stdout (exited) first.
    """
    if proc.stdout is None:
        raise PublisherStartError(f"the {what} was started without a stdout pipe")
    fd = proc.stdout.fileno()
    while not buf.endswith(b"\n"):
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            raise PublisherStartError(
                f"{what} exited with status {proc.wait()} before it was ready")
        buf += chunk
    return json.loads(buf.decode())


def wait_ready(proc: subprocess.Popen, timeout: float = 30.0,
               what: str = "publisher") -> dict:
    """Block until the publisher prints its ready line; return it as a dict.

    Raises PublisherStartError if it exits first or says nothing within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while (ready := read_ready(proc, buf, max(0.0, deadline - time.monotonic()),
                               what)) is None:
        if time.monotonic() >= deadline:
            raise PublisherStartError(f"{what} (pid {proc.pid}) not ready after {timeout}s")
    return ready
