"""The one error type command handlers raise (the server maps it to a response), and
:func:`hide_root`, which keeps the server's directory layout out of replies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from townlet.wire.console import ERROR_CODES

if TYPE_CHECKING:
    from townlet.security.sandbox import Sandbox

__all__ = ["CommandError", "hide_root"]


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
