"""Run control the console steers: pause, single steps and pacing.

The console's ``pause``/``resume``/``step``/``speed`` commands set three
attributes on a :class:`RunControl` during ``drain`` (on the simulation
thread). :class:`townlet.sim.loop.Simulation` has exactly these attributes and
honours them, so the server is given the simulation itself
(:func:`townlet.console.hook.attach`); :class:`LoopControl` is the same state
for a loop that has no ``Simulation`` (benchmarks, embedding elsewhere).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["LoopControl", "RunControl"]


class RunControl(Protocol):
    """What the console may change about the run."""

    paused: bool
    """No ticks while true (the console keeps being served)."""
    pending_steps: int
    """Ticks to run while paused (the ``step`` command)."""
    target_tps: float
    """Pace to this many ticks per second; 0 = as fast as possible."""


class LoopControl:
    """A standalone :class:`RunControl` plus the rule a loop applies before each tick."""

    def __init__(self) -> None:
        self.paused = False
        self.pending_steps = 0
        self.target_tps = 0.0

    def take_tick(self) -> bool:
        """True when the loop should tick now (consumes a pending step while paused)."""
        if not self.paused:
            return True
        if self.pending_steps > 0:
            self.pending_steps -= 1
            return True
        return False
