"""The simulation loop: ticks the world, drains console commands, publishes frames."""

from townlet.sim.loop import Simulation
from townlet.sim.summary import RunSummary

__all__ = ["RunSummary", "Simulation"]
