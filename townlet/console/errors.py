"""The one error type command handlers raise; the server maps it to a response."""

from __future__ import annotations

from townlet.wire.console import ERROR_CODES

__all__ = ["CommandError"]


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
