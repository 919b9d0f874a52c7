"""The simulation loop: ticks the world, drains console commands, publishes frames.

``Simulation`` and ``RunSummary`` are imported on first use: ``townlet.sim.cli`` is
imported by every ``townlet`` command, and the loop imports the world and its kernels,
which the publisher, the console front and the clients never need.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from townlet.sim.loop import Simulation
    from townlet.sim.summary import RunSummary

__all__ = ["RunSummary", "Simulation"]

_LAZY = {"Simulation": "townlet.sim.loop", "RunSummary": "townlet.sim.summary"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'townlet.sim' has no attribute {name!r}")
