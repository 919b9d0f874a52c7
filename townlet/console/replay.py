"""cmd_id replay cache: a repeated request gets the first response, the command runs once.

Keyed by (identity, cmd_id). An entry is *pending* while its command waits in
the queue (duplicates then wait for the same response) and *done* once it ran.
Reusing a cmd_id for a different command or different arguments is a conflict.
Bounded by count (oldest evicted) and age. Used only on the console's I/O thread.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["ReplayCache", "ReplayEntry"]


class ReplayEntry:
    """One remembered request: its fingerprint, and its response once it ran."""

    __slots__ = ("fingerprint", "response", "stamp", "waiters")

    def __init__(self, fingerprint: bytes, stamp: float) -> None:
        self.fingerprint = fingerprint
        self.stamp = stamp
        self.response: bytes | None = None
        self.waiters: list[bytes] = []  # routing ids of duplicates awaiting the response


class ReplayCache:
    """Bounded map (identity, cmd_id) -> :class:`ReplayEntry`."""

    def __init__(self, capacity: int, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], ReplayEntry] = OrderedDict()
        self.hits = 0

    def _expire(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now - entry.stamp <= self.ttl_s and len(self._entries) <= self.capacity:
                break
            del self._entries[key]

    def get(self, identity: str, cmd_id: str) -> ReplayEntry | None:
        """The entry for this request id, if remembered."""
        self._expire(self._clock())
        return self._entries.get((identity, cmd_id))

    def add(self, identity: str, cmd_id: str, fingerprint: bytes) -> ReplayEntry:
        """Remember a new pending request."""
        now = self._clock()
        entry = ReplayEntry(fingerprint, now)
        self._entries[(identity, cmd_id)] = entry
        self._expire(now)
        return entry

    def forget(self, identity: str, cmd_id: str) -> None:
        """Drop a pending entry whose request never ran (e.g. the queue was full)."""
        self._entries.pop((identity, cmd_id), None)

    def complete(self, identity: str, cmd_id: str, response: bytes) -> list[bytes]:
        """Store the response; return the routing ids of duplicates waiting for it."""
        entry = self._entries.get((identity, cmd_id))
        if entry is None:
            return []
        entry.response = response
        waiters, entry.waiters = entry.waiters, []
        return waiters

    def __len__(self) -> int:
        return len(self._entries)
