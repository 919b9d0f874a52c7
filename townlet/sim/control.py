"""The run state of a simulation loop: pause, single steps and pacing.

The console changes these attributes (its :class:`~townlet.console.control.RunControl`
protocol) during ``drain``; the loop applies :meth:`LoopControl.take_tick` before each
tick. :class:`townlet.sim.loop.Simulation` is a ``LoopControl``; a loop that has no
``Simulation`` (benchmarks, embedding elsewhere) uses one directly.
"""

from __future__ import annotations

__all__ = ["LoopControl"]


class LoopControl:
    """The state the console steers plus the rule a loop applies before each tick."""

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
