"""Errors raised by world interventions; each carries the console error code."""

from __future__ import annotations

__all__ = ["AgentNotFound", "AlreadyPossessed", "BlockedTile", "BusyTarget", "InvalidArgument",
           "NotFound", "WorldError"]


class WorldError(Exception):
    """Base class: ``code`` is the console error code for this failure."""

    code = "E_WORLD"


class NotFound(WorldError):
    code = "E_NOT_FOUND"


class AgentNotFound(NotFound):
    """No living agent in that slot."""


class InvalidArgument(WorldError, ValueError):
    code = "E_INVALID_ARG"


class BlockedTile(WorldError):
    """The tile is a wall, an object, an unbuilt lot or off the map."""

    code = "E_BLOCKED_TILE"


class AlreadyPossessed(WorldError):
    code = "E_ALREADY_POSSESSED"


class BusyTarget(WorldError):
    """The target cannot take this now (no free slot, nobody to meet...)."""

    code = "E_BUSY_TARGET"
