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
from townlet.ui.vocab import SHIFT_NAMES, STAT_NAMES

__all__ = ["HIST_BINS", "Digest", "Frame", "digest", "freeze", "hhmm"]

HIST_BINS = 10
"""Bins of the needs distribution (over [0, 1])."""
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
    needs_hist: dict[str, list[int]]
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

    @property
    def tick(self) -> int:
        return self.digest.tick


def _config_id(cols: Mapping[str, np.ndarray]) -> str:
    return bytes(cols["config_id"][0]).rstrip(b"\0").decode("ascii", "replace")


def digest(cols: Mapping[str, np.ndarray]) -> Digest:
    """The town's figures from one frame's columns."""
    tick = int(cols["tick"][0])
    tpd = int(cols["ticks_per_day"][0])
    alive = cols["agent_alive"] != 0
    needs = cols["agent_needs"][alive]
    hist, mean = {}, {}
    for k, name in enumerate(NEEDS):
        col = needs[:, k] if needs.size else np.zeros(0, np.float32)
        hist[name] = np.histogram(col, bins=HIST_BINS, range=(0.0, 1.0))[0].tolist()
        mean[name] = float(col.mean()) if col.size else 0.0
    pop = int(np.count_nonzero(alive))
    wallets = cols["agent_wallet"][alive]
    otype = cols["obj_type"]
    stock = {name: int(cols["obj_stock"][otype == t].sum()) for t, name in enumerate(OBJECT_TYPES)
             if np.any(otype == t)}
    shift = cols["agent_shift"][alive]
    sc = np.bincount(shift.astype(np.int64), minlength=len(SHIFT_NAMES))
    shifts = {SHIFT_NAMES[i] if i < len(SHIFT_NAMES) else str(i): int(n)
              for i, n in enumerate(sc.tolist()) if n}
    late_state = (shift == SHIFT_NAMES.index("late")) | (shift == SHIFT_NAMES.index("absent"))
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
        population=pop, capacity=int(alive.size), config_id=_config_id(cols),
        needs_hist=hist, needs_mean=mean,
        prices=dict(zip(PRICES[1:], to_units(cols["price_now"][1:]).tolist())),
        money_per_capita=float(to_units(int(wallets.sum()))) / pop if pop else 0.0,
        stock=stock, shifts=shifts, jobs=jobs, queues=queues, waiting=int(qlen.sum()),
        perturbations=perts, districts_down=down,
        stats=dict(zip(STAT_NAMES, cols["stats"].tolist(), strict=False)))
