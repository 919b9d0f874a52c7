"""Shared-memory lifecycle: unique names, writer liveness, stale cleanup, unlink on exit.

Segments are created by the C core with ``shm_open`` (never through
``multiprocessing.shared_memory``, so no resource tracker is involved and no
warnings appear at exit). Names look like ``/townlet-<pid>-<8 hex>``; the
header records the writer's pid and its kernel start time, so a segment whose
writer is gone (crash, SIGKILL) is recognised and removed at the next start,
together with the publisher's doorbell socket file of that ring
(``<tempdir>/townlet-<pid>-<hex>.bell``), which a killed publisher leaves behind.
"""

from __future__ import annotations

import atexit
import os
import secrets
import signal
import tempfile
import threading
from pathlib import Path
from typing import Final

import structlog

from townlet.frames.ring import ffi, lib

__all__ = [
    "PREFIX",
    "SHM_DIR",
    "ShmTooSmall",
    "check_space",
    "cleanup_stale",
    "doorbell_path",
    "forget_unlink",
    "list_segments",
    "new_ring_name",
    "process_starttime",
    "unlink_on_exit",
    "writer_alive",
]

PREFIX: Final = "townlet-"
SHM_DIR: Final = Path("/dev/shm")
BELL_SUFFIX: Final = ".bell"

_log = structlog.get_logger("townlet.frames")


class ShmTooSmall(RuntimeError):
    """/dev/shm cannot hold the ring (Docker gives containers 64 MB by default)."""


def check_space(nbytes: int, directory: Path = SHM_DIR) -> None:
    """Raise ShmTooSmall, saying how to fix it, unless ``directory`` has ``nbytes`` free.

    A segment larger than the free space is created without complaint and the writer
    then dies of SIGBUS on its first frame, so the size is checked up front.
    """
    if not directory.is_dir():
        return
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    if free < nbytes:
        need_mb = -(-nbytes // (1 << 20))
        raise ShmTooSmall(
            f"the frame ring needs {need_mb} MiB of shared memory but {directory} has "
            f"{free // (1 << 20)} MiB free: give the container more (docker run "
            f"--shm-size={2 * need_mb}m, compose shm_size), or lower telemetry.ring_slots "
            "or telemetry.event_log_events")


def new_ring_name(pid: int | None = None) -> str:
    """A fresh, unique POSIX shm name for this process: ``/townlet-<pid>-<hex>``."""
    return f"/{PREFIX}{os.getpid() if pid is None else pid}-{secrets.token_hex(4)}"


def doorbell_path(ring_name: str) -> Path:
    """The ipc socket file of a ring's doorbell: ``<tempdir>/<ring name><BELL_SUFFIX>``."""
    return Path(tempfile.gettempdir()) / f"{ring_name.lstrip('/')}{BELL_SUFFIX}"


def process_starttime(pid: int) -> int | None:
    """Kernel start time of ``pid`` (clock ticks since boot), None if it is not running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces or parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):  # exited, not yet reaped: no longer a writer
        return None
    return int(fields[19])  # field 22 overall


def writer_alive(pid: int, starttime: int) -> bool:
    """True when process ``pid`` exists and is the same process that wrote the header."""
    now = process_starttime(pid)
    return now is not None and starttime in (0, now)


def list_segments() -> list[str]:
    """Names (with leading '/') of every townlet segment in /dev/shm."""
    if not SHM_DIR.is_dir():
        return []
    return sorted("/" + p.name for p in SHM_DIR.iterdir() if p.name.startswith(PREFIX))


def _pid_from_name(name: str) -> int | None:
    parts = name.lstrip("/").split("-")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def cleanup_stale() -> list[str]:
    """Remove townlet segments and doorbell files of runs that are gone; return what was removed.

    A segment is stale when its header names a writer that no longer runs, or,
    if the header is unreadable (creation interrupted), when the pid in its name
    is gone. A doorbell file is stale when its ring no longer exists (or is
    stale) and the pid in its name is gone. Anything of a live writer is never
    touched. Every removal is logged (``stale_telemetry_removed``).
    """
    removed: list[str] = []
    for name in list_segments():
        out = ffi.new("tr_ring **")
        rc = lib.tr_attach(name.encode(), ffi.NULL, out)
        if rc == lib.TR_OK:
            pid, start = lib.tr_writer_pid(out[0]), lib.tr_writer_starttime(out[0])
            lib.tr_close(out[0])
            stale = not writer_alive(pid, start)
        elif rc in (lib.TR_EMAGIC, lib.TR_EVERSION):
            stale = _pid_gone(name)
        else:
            stale = False
        if stale and lib.tr_unlink(name.encode()) == lib.TR_OK:
            removed.append(name)
            _log.info("stale_telemetry_removed", kind="segment", name=name)
    removed += _cleanup_bells(set(list_segments()))
    return removed


def _pid_gone(name: str) -> bool:
    pid = _pid_from_name(name)
    return pid is not None and process_starttime(pid) is None


def _cleanup_bells(live_segments: set[str]) -> list[str]:
    """Unlink doorbell files whose ring is gone and whose creator's pid no longer runs."""
    bells = doorbell_path("/" + PREFIX).parent
    removed: list[str] = []
    try:
        candidates = [p for p in bells.iterdir()
                      if p.name.startswith(PREFIX) and p.name.endswith(BELL_SUFFIX)]
    except OSError:
        return removed
    for path in candidates:
        name = "/" + path.name[:-len(BELL_SUFFIX)]
        if name in live_segments or not _pid_gone(name):
            continue
        try:
            path.unlink()
        except FileNotFoundError:  # a concurrent cleanup was first
            continue
        removed.append(str(path))
        _log.info("stale_telemetry_removed", kind="doorbell", path=str(path))
    return removed


_lock = threading.Lock()
_owned: dict[str, int] = {}  # name -> pid of the process that created it
_installed = False


def _unlink_all() -> None:
    """Unlink this process's segments (a forked child never unlinks its parent's)."""
    me = os.getpid()
    with _lock:
        names = [n for n, pid in _owned.items() if pid == me]
        for n in names:
            del _owned[n]
    for name in names:
        lib.tr_unlink(name.encode())


def _on_sigterm(signum: int, frame: object) -> None:
    """Unlink, then die of SIGTERM as the default action would (exit status preserved)."""
    _unlink_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def unlink_on_exit(name: str) -> None:
    """Unlink ``name`` at normal exit, on KeyboardInterrupt (SIGINT) and on SIGTERM.

    SIGINT raises KeyboardInterrupt, which unwinds to the atexit hook. A SIGTERM
    handler is installed only if SIGTERM still has its default action (a program
    with its own handler exits normally and atexit unlinks) and only from the
    main thread, where Python allows it.
    """
    global _installed
    with _lock:
        _owned[name] = os.getpid()
        first = not _installed
        _installed = True
    if first:
        atexit.register(_unlink_all)
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
            signal.signal(signal.SIGTERM, _on_sigterm)


def forget_unlink(name: str) -> None:
    """Stop tracking ``name`` (after it was unlinked explicitly)."""
    with _lock:
        _owned.pop(name, None)
