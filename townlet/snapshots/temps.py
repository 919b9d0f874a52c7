"""Temporary files of snapshot writers: their names, who owns them, and safe cleanup.

A writer builds ``.NAME.tmp-PID-RANDOM`` beside its target and holds an exclusive
``flock`` on it from creation until the file is renamed into place. The kernel releases
that lock when the writer dies, however it dies (``kill -9`` included), so a temporary
file is *stale* when nobody holds its lock and its writer is gone: the process named by
the pid no longer exists, or the file is older than :data:`STALE_AFTER` (the pid was
reused). Cleanup takes the lock itself before unlinking, so a file a live writer owns is
never removed.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import secrets
import stat
import time
from pathlib import Path

import msgspec

__all__ = ["STALE_AFTER", "TMP_MARKER", "TempInfo", "clean_temps", "create_temp", "list_temps"]

log = logging.getLogger("townlet.snapshots")

TMP_MARKER = ".tmp-"
STALE_AFTER = 60.0
"""Seconds after which an unlocked temporary file is stale even if its pid is alive."""
_NAME_MAX = 255
"""Longest file name (bytes) on the file systems snapshots live on (Linux NAME_MAX)."""
_TMP = re.compile(r"\..+" + re.escape(TMP_MARKER) + r"(\d+)-[0-9a-f]{8}\Z")


class TempInfo(msgspec.Struct, frozen=True):
    """One writer's temporary file in a snapshot root."""

    name: str
    """Path relative to the root (POSIX)."""
    size: int
    pid: int
    """The writer's process id (from the name)."""
    age: float
    """Seconds since the file was last written."""
    stale: bool
    """No live writer owns it: ``townlet snapshot clean`` removes it."""


def create_temp(path: Path) -> tuple[int, Path]:
    """Create and lock the temporary file for ``path``; returns (fd, temp path).

    The lock lives as long as any duplicate of ``fd`` is open: keep one open until the
    file has been renamed into place.
    """
    suffix = f"{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}"
    # beside the target (never elsewhere: the caller refused a directory as the target),
    # and within NAME_MAX, so every name that can be written gets a temporary that can be
    stem = path.name.encode()[:_NAME_MAX - 1 - len(suffix)].decode(errors="ignore")
    tmp = path.parent / f".{stem}{suffix}"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, tmp


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_unowned(path: Path) -> tuple[int, os.stat_result] | None:
    """An fd holding the exclusive lock of ``path`` if no writer owns it, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None  # vanished (renamed into place), a symlink, or unreadable
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BlockingIOError(errno.EWOULDBLOCK, "not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd, st


def _candidates(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            m = _TMP.match(fname)
            if m:
                yield Path(dirpath) / fname, int(m.group(1))


def _stale(pid: int, age: float) -> bool:
    return age > STALE_AFTER or (pid != os.getpid() and not _pid_alive(pid))


def list_temps(root: str | os.PathLike[str]) -> list[TempInfo]:
    """Every writer's temporary file under ``root``, with whether it is stale."""
    base = Path(root)
    out = []
    for path, pid in _candidates(base):
        held = _open_unowned(path)
        try:
            st = held[1] if held else path.lstat()
        except OSError:
            continue
        age = max(0.0, time.time() - st.st_mtime)
        out.append(TempInfo(path.relative_to(base).as_posix(), st.st_size, pid, round(age, 3),
                            held is not None and _stale(pid, age)))
        if held:
            os.close(held[0])
    return out


def clean_temps(root: str | os.PathLike[str]) -> list[TempInfo]:
    """Remove the stale temporary files under ``root``; returns what was removed (logged).

    Each file is unlinked while this process holds its lock, and only if the name still
    refers to the locked file, so a live writer's file is never touched.
    """
    base = Path(root)
    removed = []
    for path, pid in _candidates(base):
        held = _open_unowned(path)
        if held is None:
            continue
        fd, st = held
        try:
            age = max(0.0, time.time() - st.st_mtime)
            now = path.lstat()
            if not _stale(pid, age) or (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev):
                continue
            path.unlink()
        except OSError:
            continue
        finally:
            os.close(fd)
        info = TempInfo(path.relative_to(base).as_posix(), st.st_size, pid, round(age, 3), True)
        log.warning("removed stale snapshot temporary file %s (%d bytes, writer pid %d, "
                    "unlocked)", path, st.st_size, pid)
        removed.append(info)
    return removed
