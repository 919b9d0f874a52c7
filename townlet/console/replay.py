"""cmd_id replay cache: a repeated request gets the first response, the command runs once.

Keyed by (identity, cmd_id). An entry is *pending* while its command waits in
the queue (duplicates then wait for the same response) and *done* once it ran.
Reusing a cmd_id for a different command or different arguments is a conflict.

Partitioned by identity: each identity has its own bounded map (oldest evicted,
entries expire by age), so one identity's burst can never evict another's entries
(an admin's retried cmd_id would otherwise run twice). The number of identities
remembered is bounded too; past it, the identity least recently seen is forgotten
as a whole. Used only on the console's I/O thread.
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
    """Bounded map identity -> (bounded map cmd_id -> :class:`ReplayEntry`).

    Parameters
    ----------
    capacity
        Entries kept per identity.
    ttl_s
        Age after which an entry is forgotten.
    identities
        Identities kept; the least recently seen one is dropped beyond this.
    """

    def __init__(self, capacity: int, ttl_s: float, identities: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.ttl_s = ttl_s
        self.identities = identities
        self._clock = clock
        self._by_identity: OrderedDict[str, OrderedDict[str, ReplayEntry]] = OrderedDict()
        self.hits = 0

    def _entries(self, identity: str, create: bool) -> OrderedDict[str, ReplayEntry] | None:
        """This identity's map with expired and excess entries dropped (``None`` if it has
        none and ``create`` is false); marks the identity as recently seen."""
        entries = self._by_identity.get(identity)
        if entries is None:
            if not create:
                return None
            entries = self._by_identity[identity] = OrderedDict()
            while len(self._by_identity) > self.identities:
                self._by_identity.popitem(last=False)
        self._by_identity.move_to_end(identity)
        now = self._clock()
        while entries:
            key, entry = next(iter(entries.items()))
            if now - entry.stamp <= self.ttl_s and len(entries) <= self.capacity:
                break
            del entries[key]
        return entries

    def get(self, identity: str, cmd_id: str) -> ReplayEntry | None:
        """The entry for this request id, if remembered."""
        entries = self._entries(identity, create=False)
        return None if entries is None else entries.get(cmd_id)

    def add(self, identity: str, cmd_id: str, fingerprint: bytes) -> ReplayEntry:
        """Remember a new pending request."""
        entries = self._entries(identity, create=True)
        assert entries is not None
        entry = entries[cmd_id] = ReplayEntry(fingerprint, self._clock())
        if len(entries) > self.capacity:
            entries.popitem(last=False)
        return entry

    def forget(self, identity: str, cmd_id: str) -> None:
        """Drop a pending entry whose request never ran (e.g. the queue was full)."""
        entries = self._by_identity.get(identity)
        if entries is not None:
            entries.pop(cmd_id, None)

    def complete(self, identity: str, cmd_id: str, response: bytes) -> list[bytes]:
        """Store the response; return the routing ids of duplicates waiting for it."""
        entries = self._by_identity.get(identity)
        entry = None if entries is None else entries.get(cmd_id)
        if entry is None:
            return []
        entry.response = response
        waiters, entry.waiters = entry.waiters, []
        return waiters

    def __len__(self) -> int:
        return sum(len(e) for e in self._by_identity.values())
