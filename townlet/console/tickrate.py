"""The town's ticks per second as the console reports it (``status``)."""

from __future__ import annotations

__all__ = ["TickRate"]

WINDOW_S = 0.5
"""Shortest span a rate is measured over (shorter windows jitter with the tick)."""


class TickRate:
    """Ticks per second over the last window of at least ``WINDOW_S`` seconds."""

    def __init__(self) -> None:
        self.rate = 0.0
        self._mark: tuple[float, int] | None = None

    def observe(self, now: float, tick: int) -> None:
        """Record that the town is at ``tick`` at monotonic time ``now``."""
        if self._mark is None:
            self._mark = (now, tick)
        elif now - self._mark[0] >= WINDOW_S:
            t0, k0 = self._mark
            self.rate = (tick - k0) / (now - t0)
            self._mark = (now, tick)
