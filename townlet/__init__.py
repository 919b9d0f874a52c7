"""Townlet: a fast, trustworthy town simulation for multi-agent research.

The heavy parts (the Numba kernel, the compiled frame ring) are imported lazily
so that ``townlet --help`` and the wire/client modules start instantly.
"""

from importlib import import_module

__all__ = ["World", "__version__", "load_config"]
__version__ = "0.1.0"

_LAZY = {"World": "townlet.world", "load_config": "townlet.config"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'townlet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
