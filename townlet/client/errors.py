"""Exceptions a :class:`~townlet.client.console.ConsoleClient` raises.

Server-side refusals are :class:`ConsoleError` subclasses, one per wire error
code (``ERROR_TYPES`` maps code -> class); transport problems are
:class:`ConsoleConnectionError` subclasses.
"""

from __future__ import annotations

__all__ = [
    "ERROR_TYPES",
    "AlreadyPossessed",
    "BlockedTile",
    "Busy",
    "BusyTarget",
    "Conflict",
    "ConsoleConnectionError",
    "ConsoleError",
    "ConsoleTimeout",
    "Forbidden",
    "ForbiddenPath",
    "HandshakeFailed",
    "HandshakeRefused",
    "InternalError",
    "InvalidArgument",
    "NotFound",
    "RateLimited",
    "RequestTooLarge",
    "ServerUnreachable",
    "Unauthorized",
    "UnknownCommand",
    "UsageError",
]


class ConsoleError(Exception):
    """The server refused or failed the command; ``code`` is the wire error code."""

    code = "E_INTERNAL"

    def __init__(self, message: str, *, cmd_id: str = "", tick: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cmd_id = cmd_id
        self.tick = tick

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class UsageError(ConsoleError):
    code = "E_USAGE"


class RequestTooLarge(ConsoleError):
    code = "E_TOO_LARGE"


class UnknownCommand(ConsoleError):
    code = "E_UNSUPPORTED"


class InvalidArgument(ConsoleError):
    code = "E_INVALID_ARG"


class NotFound(ConsoleError):
    code = "E_NOT_FOUND"


class BusyTarget(ConsoleError):
    code = "E_BUSY_TARGET"


class BlockedTile(ConsoleError):
    code = "E_BLOCKED_TILE"


class AlreadyPossessed(ConsoleError):
    code = "E_ALREADY_POSSESSED"


class Conflict(ConsoleError):
    code = "E_CONFLICT"


class Unauthorized(ConsoleError):
    """Your key stopped being valid (revoked or expired) while connected."""

    code = "E_UNAUTHORIZED"


class Forbidden(ConsoleError):
    """Your role may not run this command."""

    code = "E_FORBIDDEN"


class ForbiddenPath(Forbidden):
    code = "E_FORBIDDEN_PATH"


class RateLimited(ConsoleError):
    code = "E_RATE_LIMITED"


class Busy(ConsoleError):
    """The server's queue is full; retry shortly."""

    code = "E_BUSY"


class InternalError(ConsoleError):
    code = "E_INTERNAL"


ERROR_TYPES: dict[str, type[ConsoleError]] = {
    cls.code: cls for cls in (UsageError, RequestTooLarge, UnknownCommand, InvalidArgument,
                              NotFound, BusyTarget, BlockedTile, AlreadyPossessed, Conflict,
                              Unauthorized, Forbidden, ForbiddenPath, RateLimited, Busy,
                              InternalError)
}


class ConsoleConnectionError(ConnectionError):
    """The request could not be delivered or answered."""


class ServerUnreachable(ConsoleConnectionError):
    """No connection to the endpoint could be made."""


class HandshakeRefused(ConsoleConnectionError):
    """The server refused our key: unknown, expired or revoked, or a role not admitted."""


class HandshakeFailed(ConsoleConnectionError):
    """The CURVE handshake failed; usually the server key is wrong."""


class ConsoleTimeout(ConsoleConnectionError, TimeoutError):
    """Connected, but no response within the timeout (after the configured retries)."""
