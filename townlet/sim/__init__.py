"""The simulation loop: ticks the world, drains console commands, publishes frames.

``Simulation`` and ``RunSummary`` are imported on first use: ``townlet.sim.cli`` is
imported by every ``townlet`` command, and the loop imports the world and its kernels,
which the publisher, the console front and the clients never need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from townlet.sim.loop import Simulation
    from townlet.sim.summary import RunSummary

__all__ = ["RunSummary", "Simulation"]


def __getattr__(name: str) -> Any:
    if name == "Simulation":
        from townlet.sim.loop import Simulation

        return Simulation
    if name == "RunSummary":
        from townlet.sim.summary import RunSummary

        return RunSummary
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
