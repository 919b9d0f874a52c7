"""What a command handler sees: the world, the caller, run control and server facts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from townlet.console.control import RunControl
from townlet.promotion.manager import Promotion
from townlet.security.registry import RegistryWatcher
from townlet.security.sandbox import Sandbox
from townlet.snapshots.format import PolicyIdentity

if TYPE_CHECKING:
    from townlet.console.summary import TownSummary
    from townlet.console.table import Command

__all__ = ["CommandContext", "EventLog", "PolicyInfo", "Principal"]


class Principal(msgspec.Struct, frozen=True):
    """Who is calling, as established by the ZAP handshake and the key registry."""

    identity: str
    key_id: str
    role: str


class PolicyInfo(msgspec.Struct, frozen=True):
    """What drives the agents (set by the simulation loop with ``server.policy = ...``)."""

    kind: str = "scripted"
    """``scripted`` (the built-in rule policy) or the name of a learned policy family."""
    name: str = "scripted"
    """Human name of the policy in use."""
    checkpoint: str | None = None
    """Checkpoint file of a learned policy."""
    policy_hash: str | None = None
    """Content hash of the policy weights."""
    possessed_override: bool = True
    """Possessed agents follow operator actions instead of the policy."""
    identity: PolicyIdentity = PolicyIdentity()
    """What frames and snapshots record for the last tick: hash, name, variant, anneal
    ratio and unit, agents the learned policy drove (all null while scripted)."""


class EventLog:
    """The most recent world events, kept for the ``events`` command.

    Copies ``world.events()`` (a small structured array) once per new tick into a
    fixed ring; vectorised, no per-event Python.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._buf: np.ndarray | None = None
        self._next = 0
        self._count = 0
        self._last_tick = -1

    def observe(self, world: Any) -> None:
        """Record the events of the last completed tick, once."""
        tick = int(world.tick)
        if tick == self._last_tick:
            return
        self._last_tick = tick
        ev = world.events()
        if self._buf is None:
            self._buf = np.zeros(self.capacity, dtype=ev.dtype)
        n = len(ev)
        if n == 0:
            return
        if n >= self.capacity:
            ev, n = ev[-self.capacity:], self.capacity
        first = min(n, self.capacity - self._next)  # two slice copies, no index arrays
        self._buf[self._next:self._next + first] = ev[:first]
        self._buf[:n - first] = ev[first:]
        self._next = (self._next + n) % self.capacity
        self._count = min(self.capacity, self._count + n)

    def recent(self, limit: int) -> np.ndarray:
        """Up to ``limit`` newest events, oldest first (a copy)."""
        if self._buf is None or self._count == 0:
            return np.zeros(0, dtype=self._buf.dtype if self._buf is not None else "u1")
        k = min(limit, self._count)
        idx = (self._next - k + np.arange(k)) % self.capacity
        return self._buf[idx].copy()


class CommandContext:
    """Passed to every handler; ``world`` is ``None`` for commands answered off-tick."""

    __slots__ = ("control", "events", "health", "policy", "principal", "promotion", "registry",
                 "sandbox", "table", "tick_rate", "town", "world")

    def __init__(self, *, world: Any, principal: Principal, control: RunControl,
                 events: EventLog, policy: PolicyInfo, sandbox: Sandbox | None,
                 table: dict[str, Command], tick_rate: float, health: Any,
                 registry: RegistryWatcher, promotion: Promotion | None = None,
                 town: Callable[[], TownSummary | None] | None = None) -> None:
        self.world = world
        self.principal = principal
        self.control = control
        self.events = events
        self.policy = policy
        self.sandbox = sandbox
        self.table = table
        self.tick_rate = tick_rate
        self.health = health
        self.registry = registry
        self.promotion = promotion
        """The run's promotion authority (None: no learned policy is served)."""
        self.town = town
        """The simulation's per-tick summary, in the console front process (None where
        the world itself is at hand)."""
