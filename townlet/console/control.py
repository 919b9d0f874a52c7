"""Run control the console hands to the simulation loop: pause, resume, single steps, speed.

The console's ``pause``/``resume``/``step``/``speed`` commands change this
object during :meth:`ConsoleServer.drain`; the simulation loop (same thread)
asks it before each tick::

    while running:
        server.drain(world, cfg.console.max_per_tick)   # always, even when paused
        if server.control.take_tick():
            world.step()
        else:
            time.sleep(server.control.idle_sleep_s)      # paused: keep serving the console
        # optional pacing: server.control.target_tps (None = as fast as possible)
"""

from __future__ import annotations

__all__ = ["LoopControl"]


class LoopControl:
    """Pause / step / speed state, touched only on the simulation thread."""

    idle_sleep_s = 0.005
    """How long a paused loop sleeps between drains."""

    def __init__(self) -> None:
        self.paused = False
        self.pending_steps = 0
        self.target_tps: float | None = None

    def pause(self) -> None:
        """Stop ticking (the console keeps being served)."""
        self.paused = True
        self.pending_steps = 0

    def resume(self) -> None:
        """Tick freely again."""
        self.paused = False
        self.pending_steps = 0

    def step(self, n: int) -> None:
        """While paused, run exactly ``n`` more ticks (then stay paused)."""
        self.paused = True
        self.pending_steps += n

    def set_speed(self, tps: float | None) -> None:
        """Pace the loop to ``tps`` ticks per second (``None``: as fast as possible)."""
        self.target_tps = tps

    def take_tick(self) -> bool:
        """True when the loop should run one tick now (consumes a pending step when paused)."""
        if not self.paused:
            return True
        if self.pending_steps > 0:
            self.pending_steps -= 1
            return True
        return False
