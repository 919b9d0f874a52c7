"""Confine user-supplied file paths to one root directory (WP-002).

Every path a console command or the snapshot tooling accepts goes through
:meth:`Sandbox.resolve`: it must be a relative, UTF-8, NUL-free path without
``..`` components, and its fully resolved location (symlinks followed) must lie
inside the root. Anything else raises :class:`ForbiddenPath` (code
``E_FORBIDDEN_PATH``) before any file is opened, read or written.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["ForbiddenPath", "Sandbox"]


class ForbiddenPath(Exception):
    """A path is not allowed: absolute, escaping the root, NUL, or not UTF-8."""

    code = "E_FORBIDDEN_PATH"


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
        real = (self.root / text).resolve(strict=False)
        if not real.is_relative_to(self.root):
            raise ForbiddenPath(f"path leaves the snapshot root (symlink?): {text!r}")
        return real

    def relative(self, real: Path) -> str:
        """The root-relative POSIX form of a path returned by :meth:`resolve`."""
        return real.relative_to(self.root).as_posix()

    def open_read(self, user_path: object) -> int:
        """Open a file inside the root for reading; returns an OS file descriptor.

        ``O_NOFOLLOW`` refuses a final-component symlink swapped in after the check.
        """
        real = self.resolve(user_path)
        try:
            return os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
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
