"""Authenticated operator console: the server (run by the console front process,
:mod:`townlet.front`, or embedded in a simulation), the simulation's end of the front's
link, the command table, and the ``townlet console`` CLI. Imports are lazy (the CLI needs
none of the server)."""

from importlib import import_module

__all__ = ["COMMANDS", "CommandError", "ConsoleServer", "PolicyInfo"]

_LAZY = {
    "COMMANDS": "townlet.console.commands",
    "CommandError": "townlet.console.errors",
    "ConsoleServer": "townlet.console.server",
    "PolicyInfo": "townlet.console.context",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'townlet.console' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
