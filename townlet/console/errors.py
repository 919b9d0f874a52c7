"""The one error type command handlers raise (the server maps it to a response),
:func:`hide_root`, which keeps the server's directory layout out of replies, and
:func:`path_error`, the one mapping from an OS error on a path to an error code."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from townlet.wire.console import ERROR_CODES

if TYPE_CHECKING:
    from townlet.security.sandbox import Sandbox

__all__ = ["CommandError", "hide_root", "path_error"]


class CommandError(Exception):
    """A command failed for a reason the caller can act on.

    ``code`` is one of :data:`townlet.wire.console.ERROR_CODES`.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown console error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message


def hide_root(text: str, sandbox: Sandbox | None) -> str:
    """``text`` with the snapshot root's absolute path removed, so file errors name paths
    relative to the root (as clients gave them) and do not reveal where it lives."""
    if sandbox is None:
        return text
    root = str(sandbox.root)
    return text.replace(root + "/", "").replace(root, ".")


_PATH_CODES = {
    errno.ENOENT: "E_NOT_FOUND",
    errno.ENOTDIR: "E_NOT_FOUND",
    errno.ENAMETOOLONG: "E_INVALID_ARG",
    errno.EISDIR: "E_INVALID_ARG",
    errno.EEXIST: "E_INVALID_ARG",
    errno.ENOTEMPTY: "E_INVALID_ARG",
    errno.EINVAL: "E_INVALID_ARG",
    errno.ELOOP: "E_FORBIDDEN_PATH",
    errno.EACCES: "E_FORBIDDEN_PATH",
    errno.EPERM: "E_FORBIDDEN_PATH",
    errno.EROFS: "E_FORBIDDEN_PATH",
}
"""What an OS error on a path means for the caller. Anything else (no space, I/O error,
too many open files) is the server's condition: ``E_INTERNAL``, with the reason."""
_SHOWN = 80


def path_error(exc: OSError, sandbox: Sandbox | None) -> CommandError:
    """The :class:`CommandError` for an OS error on a path (``exc.filename`` set): the code
    from the errno, a message naming the path relative to the root (cut to a readable
    length) and the OS's reason."""
    name = hide_root(str(exc.filename), sandbox)
    if len(name) > _SHOWN:
        name = name[:_SHOWN] + f"...[{len(name)} characters]"
    return CommandError(_PATH_CODES.get(exc.errno or 0, "E_INTERNAL"),
                        f"{name!r}: {exc.strerror or 'operating system error'}")
