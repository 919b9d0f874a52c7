"""Per-identity token buckets: ``rate`` tokens per second up to ``burst``; one token per request."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token bucket per identity (used only on the console's I/O thread, so no lock)."""

    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # identity -> (tokens, stamp)
        self.limited = 0

    def take(self, identity: str, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens; return 0.0 if allowed, else seconds until it would be."""
        now = self._clock()
        tokens, stamp = self._buckets.get(identity, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens >= cost:
            self._buckets[identity] = (tokens - cost, now)
            return 0.0
        self._buckets[identity] = (tokens, now)
        self.limited += 1
        return (cost - tokens) / self.rate
