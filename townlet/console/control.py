"""What the console may change about a run: pause, single steps and pacing.

The console's ``pause``/``resume``/``step``/``speed`` commands set three
attributes on a :class:`RunControl` during ``drain`` (on the simulation
thread). The loop owns that state and the rule that applies it
(:class:`townlet.sim.control.LoopControl`; ``Simulation`` is one), so the server
is given the simulation itself (:func:`townlet.console.hook.attach`).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["RunControl"]


class RunControl(Protocol):
    """What the console may change about the run."""

    paused: bool
    """No ticks while true (the console keeps being served)."""
    pending_steps: int
    """Ticks to run while paused (the ``step`` command)."""
    target_tps: float
    """Pace to this many ticks per second; 0 = as fast as possible."""
