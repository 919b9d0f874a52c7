"""Operator levers over the town's mechanics: prices, chats, ties, employment exits,
mortality, the exit cap and the respawn delay (SPEC/ops.md's ``price``, ``force_chat``,
``set_rel``, ``employment_exit``, ``toggle_mortality``, ``set_exit_cap``,
``set_spawn_delay``).

A mixin of :class:`townlet.world.World`: each method validates its arguments, raises a
typed error (townlet.world.errors) on bad input, then changes the state through the
compiled kernel or a state entry the kernel reads (``ctl``), so the change is part of
every hash and snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from townlet.config.money import to_minor
from townlet.world.actions import Flag
from townlet.world.errors import BusyTarget, InvalidArgument
from townlet.world.jobs import enqueue_exit
from townlet.world.perturb import reprice
from townlet.world.social import chat_with, set_tie
from townlet.world.state import PRICES, Ctl, State

__all__ = ["MAX_DELAY", "MAX_PRICE", "Levers"]

MAX_PRICE = 1_000_000.0
"""Highest price an operator may set, in units of money."""
MAX_DELAY = 10_000_000
"""Longest respawn delay an operator may set, in ticks."""


def _number(name: str, value, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not lo <= value <= hi:
        raise InvalidArgument(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def _count(name: str, value, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 0 <= value <= hi:
        raise InvalidArgument(f"{name} must be an integer in [0, {hi}], got {value!r}")
    return int(value)


class Levers:
    """World methods behind the operator levers (see the module docstring)."""

    # provided by World, which mixes this class in
    _s: State
    _ks: Any
    _kp: Any
    _begin_batch: Callable[[], None]
    _settle: Callable[[], None]
    _agent: Callable[[Any], int]
    _near: bool | None

    def set_price(self, name: str, value: float) -> int:
        """Set the base price of ``name`` (units of money); active price spikes still
        multiply it. Returns the price now in force, in minor units."""
        if name not in PRICES[1:]:
            raise InvalidArgument(f"unknown price {name!r} (known: {', '.join(PRICES[1:])})")
        minor = to_minor(_number("price", value, 0.0, MAX_PRICE))
        k = PRICES.index(name)
        self._begin_batch()
        self._s.price_base[k] = minor
        reprice(self._ks)
        return int(self._s.price_now[k])

    def _pair(self, a, b) -> tuple[int, int]:
        i, j = self._agent(a), self._agent(b)
        if i == j:
            raise InvalidArgument(f"needs two different agents, got {i} twice")
        return i, j

    def force_chat(self, speaker: int, listener: int, quality: float = 1.0) -> None:
        """Record a successful chat between two living agents, wherever they stand
        (``quality`` in [0, 1] scales its social, trust and familiarity gains)."""
        i, j = self._pair(speaker, listener)
        q = _number("quality", quality, 0.0, 1.0)
        self._begin_batch()
        chat_with(self._ks, self._kp, i, j, q)

    def set_relationship(self, a: int, b: int, trust: float, familiarity: float,
                         rivalry: float) -> None:
        """Set the tie between two living agents, both directions (evicting each one's
        weakest tie if its slots are full)."""
        i, j = self._pair(a, b)
        tr = _number("trust", trust, -1.0, 1.0)
        fa = _number("familiarity", familiarity, 0.0, 1.0)
        rv = _number("rivalry", rivalry, 0.0, 1.0)
        self._settle()
        set_tie(self._ks, i, j, np.float32(tr), np.float32(fa), np.float32(rv))
        self._near = None  # the tie may join far districts (townlet.world.waves)

    def tie(self, a: int, b: int) -> tuple[float, float, float]:
        """(trust, familiarity, rivalry) of agent a's tie to b; zeros without a tie."""
        i, j = self._pair(a, b)
        k = np.flatnonzero(self._s.rel_other[i] == j)
        if k.size == 0:
            return 0.0, 0.0, 0.0
        s = self._s
        return (float(s.rel_trust[i, k[0]]), float(s.rel_fam[i, k[0]]),
                float(s.rel_riv[i, k[0]]))

    def employment_exit(self, agent: int) -> int:
        """Put a living agent in the employment exit queue; it leaves (and a newcomer
        takes its place) when the exit cap and spacing allow. Returns its place."""
        i = self._agent(agent)
        if self._s.agent_flags[i] & Flag.EXIT_PENDING:
            raise BusyTarget(f"agent {i} is already waiting to exit")
        self._begin_batch()
        return int(enqueue_exit(self._ks, self._kp, i))

    def set_mortality(self, enabled: bool) -> None:
        """Whether sustained starvation kills (off: starving agents only faint)."""
        if not isinstance(enabled, (bool, np.bool_)):
            raise InvalidArgument(f"enabled must be a boolean, got {enabled!r}")
        self._s.ctl[Ctl.MORTALITY] = int(enabled)

    def set_exit_cap(self, per_district: int) -> None:
        """Employment exits allowed per district per day (0 = unlimited)."""
        self._s.ctl[Ctl.EXIT_CAP] = _count("exit cap", per_district, 1_000_000)

    def set_spawn_delay(self, ticks: int) -> None:
        """Ticks from a death or exit to the newcomer's arrival (removals from now on)."""
        self._s.ctl[Ctl.RESPAWN_DELAY] = _count("spawn delay", ticks, MAX_DELAY)

    def levers(self) -> dict[str, int]:
        """The levers in force: exit_cap (per district per day), spawn_delay, mortality."""
        c = self._s.ctl
        return {"exit_cap": int(c[Ctl.EXIT_CAP]), "spawn_delay": int(c[Ctl.RESPAWN_DELAY]),
                "mortality": int(c[Ctl.MORTALITY])}
