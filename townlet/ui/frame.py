"""One received frame as the UI sees it: read-only column copies plus the town digest.

The feed thread builds a :class:`Frame` from the subscriber's state (copies, marked
read-only, so nothing on screen can change what was received) and computes the
:class:`Digest` there too, so the UI thread only draws. Every figure here is a
vectorised NumPy pass over the frame; no Python runs per agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from townlet.config.money import to_units
from townlet.config.world import NEEDS, OBJECT_TYPES, PERTURBATION_KINDS, PRICES
from townlet.ui.vocab import Names

__all__ = ["HIST_BINS", "Digest", "Frame", "digest", "freeze", "hhmm", "policy_text"]

HIST_BINS = 10
"""Bins of the needs distribution (over [0, 1])."""
NEEDS_SAMPLE = 1 << 17
"""The needs distribution covers every agent slot up to this many, then every k-th slot
(a stride sample: the figure's cost stays flat at 1M agents)."""
TOP_QUEUES = 8
"""Queues listed in the town panel (longest first)."""


def freeze(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Mark every array read-only (they are already copies owned by the UI)."""
    for a in columns.values():
        a.flags.writeable = False
    return dict(columns)


def hhmm(tick_of_day: int, ticks_per_day: int) -> str:
    """Clock time of a tick of the day (24 h over ``ticks_per_day`` ticks)."""
    minutes = tick_of_day * 24 * 60 // max(1, ticks_per_day)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Digest:
    """Town-wide figures of one frame (what the header and the town panels show)."""

    tick: int
    day: int
    clock: str
    population: int
    capacity: int
    config_id: str
    policy: str
    """The policy named by the frame (empty when the stream does not carry it)."""
    learned_agents: int
    """Agents the learned policy drove this tick (0: scripted, or an older stream)."""
    needs_hist: dict[str, list[int]]
    """Living agents per need bin (of a stride sample above NEEDS_SAMPLE slots)."""
    needs_mean: dict[str, float]
    prices: dict[str, float]
    money_per_capita: float
    stock: dict[str, int]
    shifts: dict[str, int]
    """Living agents per shift state."""
    jobs: dict[int, tuple[int, int]]
    """Job index -> (agents, agents late or absent now)."""
    queues: list[tuple[int, str, int, int, int]]
    """(object, type, x, y, waiting), longest first."""
    waiting: int
    perturbations: list[tuple[int, str, int, int, float]]
    """(event id, kind, ends at tick, target, magnitude) of active perturbations."""
    districts_down: int
    """Districts without power or water."""
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Frame:
    """The newest applied frame: read-only columns, its digest and when it arrived."""

    cols: Mapping[str, np.ndarray]
    digest: Digest
    received: float
    """``time.monotonic()`` when the message that completed it was received."""
    sent_ns: int = 0
    """Publisher wall clock when it sent that message (ns since the epoch; same-host clocks)."""
    names: Names = field(default_factory=Names)
    """The stream's names of coded values (its schema's vocabulary)."""

    @property
    def tick(self) -> int:
        return self.digest.tick


def _text(cols: Mapping[str, np.ndarray], name: str) -> str:
    """A ``|S64`` meta column as text ("" when this stream's schema has no such column)."""
    if name not in cols:
        return ""
    return bytes(cols[name][0]).rstrip(b"\0").decode("ascii", "replace")


def policy_text(cols: Mapping[str, np.ndarray]) -> str:
    """The policy that drove the frame's tick (schema 2.1+), e.g. ``ppo 3f9c0d1e2a4b`` with the
    learned share when annealing; "" when the stream does not say."""
    name, digest_hex = _text(cols, "policy_name"), _text(cols, "policy_hash")
    if not name:
        return ""
    out = name + (f" {digest_hex[:12]}" if digest_hex else "")
    ratio = float(cols["anneal_ratio"][0]) if "anneal_ratio" in cols else 0.0
    if 0.0 < ratio < 1.0:
        out += f" ({ratio:.0%} learned)"
    return out


def digest(cols: Mapping[str, np.ndarray], names: Names | None = None) -> Digest:
    """The town's figures from one frame's columns (coded values named by ``names``)."""
    names = names or Names()
    tick = int(cols["tick"][0])
    tpd = int(cols["ticks_per_day"][0])
    alive = cols["agent_alive"] != 0
    pop = int(np.count_nonzero(alive))
    needs = cols["agent_needs"][::max(1, alive.size // NEEDS_SAMPLE)]  # a fixed-cost sample
    needs = needs[alive[::max(1, alive.size // NEEDS_SAMPLE)]]
    k = len(NEEDS)
    bins = np.clip((needs * HIST_BINS).astype(np.int64), 0, HIST_BINS - 1)
    counts = np.bincount((bins + np.arange(k) * HIST_BINS).ravel(), minlength=k * HIST_BINS)
    n = len(needs)
    sums = needs.sum(axis=0, dtype=np.float64) if n else np.zeros(k)
    hist = {name: counts[i * HIST_BINS:(i + 1) * HIST_BINS].tolist()
            for i, name in enumerate(NEEDS)}
    mean = {name: float(sums[i]) / n if n else 0.0 for i, name in enumerate(NEEDS)}
    wallets = cols["agent_wallet"][alive]
    otype = cols["obj_type"]
    used = otype >= 0
    per_type = np.bincount(otype[used], weights=cols["obj_stock"][used],
                           minlength=len(OBJECT_TYPES))
    present = np.bincount(otype[used], minlength=len(OBJECT_TYPES))
    stock = {name: int(per_type[t]) for t, name in enumerate(OBJECT_TYPES) if present[t]}
    shift = cols["agent_shift"][alive]
    sc = np.bincount(shift.astype(np.int64))
    shifts = {names.of("agent_shift", i): int(n) for i, n in enumerate(sc.tolist()) if n}
    late, absent = names.code("agent_shift", "late"), names.code("agent_shift", "absent")
    late_state = np.isin(shift, [c for c in (late, absent) if c is not None])  # none: 2.1
    job = cols["agent_job"][alive].astype(np.int64)
    per_job = np.bincount(job, minlength=1)
    late_job = np.bincount(job[late_state], minlength=per_job.size)
    jobs = {j: (int(per_job[j]), int(late_job[j])) for j in np.flatnonzero(per_job).tolist()}
    qlen = cols["obj_q_len"]
    busy = np.flatnonzero((qlen > 0) & (otype >= 0))
    top = busy[np.argsort(-qlen[busy], kind="stable")][:TOP_QUEUES]
    queues = [(int(o), OBJECT_TYPES[int(otype[o])], int(cols["obj_x"][o]), int(cols["obj_y"][o]),
               int(qlen[o])) for o in top.tolist()]
    pk = cols["pert_kind"]
    perts = [(int(cols["pert_id"][s]), PERTURBATION_KINDS[int(pk[s])], int(cols["pert_end"][s]),
              int(cols["pert_target"][s]), float(cols["pert_mag"][s]))
             for s in np.flatnonzero(pk >= 0).tolist()]
    down = int(np.count_nonzero((cols["district_power"] == 0) | (cols["district_water"] == 0)))
    return Digest(
        tick=tick, day=tick // max(1, tpd), clock=hhmm(int(cols["tick_of_day"][0]), tpd),
        population=pop, capacity=int(alive.size), config_id=_text(cols, "config_id"), policy=policy_text(cols),
        learned_agents=int(cols["learned_agents"][0]) if "learned_agents" in cols else 0,
        needs_hist=hist, needs_mean=mean,
        prices=dict(zip(PRICES[1:], to_units(cols["price_now"][1:]).tolist())),
        money_per_capita=float(to_units(int(wallets.sum()))) / pop if pop else 0.0,
        stock=stock, shifts=shifts, jobs=jobs, queues=queues, waiting=int(qlen.sum()),
        perturbations=perts, districts_down=down,
        stats={names.of("stats", i): v for i, v in enumerate(cols["stats"].tolist())})
