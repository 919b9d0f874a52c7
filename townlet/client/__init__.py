"""What external consumers import: ``ConsoleClient`` and the telemetry ``Subscriber``.

Imports are lazy so ``import townlet.client`` stays cheap.
"""

from importlib import import_module

__all__ = ["ConsoleClient", "Subscriber", "SubscriberStats", "Update"]

_LAZY = {"ConsoleClient": "townlet.client.console", "Subscriber": "townlet.client.subscriber",
         "SubscriberStats": "townlet.client.subscriber", "Update": "townlet.client.subscriber"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'townlet.client' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
