"""Confine user-supplied file paths to one root directory (WP-002).

Every path a console command or the snapshot tooling accepts goes through
:meth:`Sandbox.resolve`: it must be a relative, UTF-8, NUL-free path without
``..`` components, and its fully resolved location (symlinks followed) must lie
inside the root. Anything else raises :class:`ForbiddenPath` (code
``E_FORBIDDEN_PATH``) before any file is opened, read or written.

A file to *write* goes through :meth:`Sandbox.resolve_file`, which also refuses the root
itself and directories, so a writer's temporary file (made in the target's directory) is
always inside the root. Files are *read* through :func:`open_regular`, which never blocks on
a FIFO or device and never follows a final symlink.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["ForbiddenPath", "NotRegularFile", "Sandbox", "open_regular"]


class ForbiddenPath(Exception):
    """A path is not allowed: absolute, escaping the root, NUL, or not UTF-8."""

    code = "E_FORBIDDEN_PATH"


class NotRegularFile(OSError):
    """A path names a FIFO, socket, device or directory where a regular file is needed."""


def open_regular(path: str | os.PathLike[str]) -> int:
    """Open a regular file for reading; returns an OS file descriptor (blocking mode).

    ``O_NONBLOCK`` makes opening a FIFO or device return at once instead of waiting for a
    writer (which would hang the caller's thread); the type is then checked on the open
    descriptor, so a file swapped in after a check cannot slip through. ``O_NOFOLLOW``
    refuses a final-component symlink (``ELOOP``). Raises :class:`NotRegularFile` or the
    ``OSError`` of the open.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", os.fspath(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Sandbox:
    """A root directory that user paths are resolved against.

    Parameters
    ----------
    root
        The allowed directory (created if missing). Its own real path is the boundary.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        r = Path(root)
        r.mkdir(parents=True, exist_ok=True)
        self.root = r.resolve(strict=True)

    def resolve(self, user_path: object) -> Path:
        """Absolute real path of ``user_path`` inside the root, or raise :class:`ForbiddenPath`.

        The target itself need not exist (for writes), but everything that does exist
        along the way is resolved, so a symlink pointing outside is caught.
        """
        text = _as_text(user_path)
        if text == "" or "\x00" in text:
            raise ForbiddenPath("path is empty or contains NUL" if text == ""
                                else "path contains a NUL byte")
        if (PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute()
                or PureWindowsPath(text).drive or text.startswith(("~", "\\"))):
            raise ForbiddenPath(f"absolute paths are not allowed: {text!r}")
        parts = text.replace("\\", "/").split("/")
        if ".." in parts:
            raise ForbiddenPath(f"'..' is not allowed in paths: {text!r}")
        try:
            real = (self.root / text).resolve(strict=False)
        except RuntimeError:  # Python < 3.13 reports a symlink loop this way
            raise ForbiddenPath(f"path is a symlink loop: {text!r}") from None
        if not real.is_relative_to(self.root):
            raise ForbiddenPath(f"path leaves the snapshot root (symlink?): {text!r}")
        return real

    def resolve_file(self, user_path: object) -> Path:
        """Like :meth:`resolve`, for a file to write: also refuse a name that denotes a
        directory (the root, ``.``, a trailing ``/``) or an existing directory, with
        ``IsADirectoryError``, before anything is written."""
        real = self.resolve(user_path)
        last = _as_text(user_path).replace("\\", "/").rsplit("/", 1)[-1]
        if last in ("", ".") or real == self.root or real.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory; name a file to write",
                                    self.relative(real) or ".")
        return real

    def relative(self, real: Path) -> str:
        """The root-relative POSIX form of a path returned by :meth:`resolve`."""
        return real.relative_to(self.root).as_posix()

    def open_read(self, user_path: object) -> int:
        """Open a regular file inside the root for reading (:func:`open_regular`); returns
        an OS file descriptor. A final-component symlink swapped in after the check is
        refused with :class:`ForbiddenPath`."""
        real = self.resolve(user_path)
        try:
            return open_regular(real)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # it became a symlink
                raise ForbiddenPath(f"path is a symlink: {self.relative(real)!r}") from None
            raise


def _as_text(user_path: object) -> str:
    if isinstance(user_path, bytes):
        try:
            return user_path.decode("utf-8")
        except UnicodeDecodeError:
            raise ForbiddenPath("path is not valid UTF-8") from None
    if not isinstance(user_path, str):
        raise ForbiddenPath(f"path must be a string, got {type(user_path).__name__}")
    try:
        user_path.encode("utf-8")
    except UnicodeEncodeError:
        raise ForbiddenPath("path is not valid UTF-8") from None
    return user_path
