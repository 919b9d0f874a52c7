"""District blocks: what lets the tick resolve districts on different threads and
still give the same state for every thread count (docs/architecture.md, "Kernel
phases and threads").

Agent slots are ordered by district (townlet.world.town), so a block of whole
districts is a contiguous slot range. The first pass of a tick runs every block on
its own thread; an agent takes its turn there only while it is *local*: it stands in
its own district's region far enough from the border that nothing it may reach this
tick (a step, a neighbour, a queue, its target) lies outside the district. Every other
agent, or the rest of its turn once it turns out to head elsewhere, is deferred to a
serial second pass in slot order. Relationships only join residents of one district
(townlet.world.social), so a local agent writes only rows of its district's residents,
objects and tile lists of its region, and the block's own event buffer, counters and
money accounts (:data:`townlet.world.borrow.OWN_FIELDS`), which :func:`merge` adds to
the world's in block order. Whether an agent is local depends only on its district's
state, never on the blocks, so the result is the same for every thread count.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from townlet.world.geometry import PERIOD, SLOTS
from townlet.world.jit import kernel
from townlet.world.state import St, State

__all__ = ["DEFER_ACT", "DEFER_ALL", "LOCAL", "REACH", "Blocks", "block_range", "blocks_for",
           "in_district", "merge", "own_arrays", "starts_local"]

LOCAL, DEFER_ALL, DEFER_ACT = 0, 1, 2
"""``Blocks.stage`` of an agent after the first pass: its turn is done; all of it is
deferred; its action (with the goal in ``Blocks.goal``) is deferred."""
REACH = 2
"""Tiles an agent's turn may reach from where it starts: one step, then a neighbour."""


class Blocks(NamedTuple):
    """The first pass's scratch: per block (rows) an event buffer, counters and money
    accounts, and the agents' turn counts (living, critical, savings); per agent its
    stage and deferred goal, and the deferred agents of each block (from the block's first
    slot on) and their count."""

    evt_code: np.ndarray
    evt_agent: np.ndarray
    evt_other: np.ndarray
    evt_obj: np.ndarray
    evt_value: np.ndarray
    evt_len: np.ndarray
    stats: np.ndarray
    ledger: np.ndarray
    turns: np.ndarray
    stage: np.ndarray
    goal: np.ndarray
    deferred: np.ndarray
    n_deferred: np.ndarray


def blocks_for(s: State, threads: int) -> Blocks:
    """Scratch for ``threads`` blocks of the world with state ``s``."""
    e, n = s.evt_code.shape[0], s.agent_alive.shape[0]

    def rows(a, *shape):
        return np.zeros((threads, *shape), dtype=a.dtype)

    return Blocks(rows(s.evt_code, e), rows(s.evt_agent, e), rows(s.evt_other, e),
                  rows(s.evt_obj, e), rows(s.evt_value, e), rows(s.evt_len, 1),
                  rows(s.stats, s.stats.shape[0]), rows(s.ledger, s.ledger.shape[0]),
                  np.zeros((threads, 3), dtype=np.int64), np.zeros(n, dtype=np.int8),
                  np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.int32),
                  np.zeros(threads, dtype=np.int64))


@kernel
def own_arrays(b, c):
    """Block c's arrays for :func:`townlet.world.borrow.borrowed_with` (OWN_FIELDS order),
    emptied."""
    b.evt_len[c, 0] = 0
    b.stats[c, :] = 0
    b.ledger[c, :] = 0
    return (b.evt_code[c], b.evt_agent[c], b.evt_other[c], b.evt_obj[c], b.evt_value[c],
            b.evt_len[c], b.stats[c], b.ledger[c])


@kernel
def block_range(p, n, blocks, c):
    """Slots [lo, hi) of block c of ``blocks``: whole districts, in order."""
    districts = (n + p.residents_per_district - 1) // p.residents_per_district
    lo = districts * c // blocks * p.residents_per_district
    hi = districts * (c + 1) // blocks * p.residents_per_district
    return min(lo, n), min(hi, n)


@kernel
def _tile_district(s, p, x, y):
    """District owning tile (x, y): a block's own tiles, the street below it and the
    street to its right (the first street row and column go to the blocks after them);
    -1 for the blocks of no district."""
    bw = p.blocks_w
    bh = s.bld_district.shape[0] // bw
    bx = min(max(x - 1, 0) // PERIOD, bw - 1)
    by = min(max(y - 1, 0) // PERIOD, bh - 1)
    return s.bld_district[by * bw + bx]


@kernel
def in_district(s, b, d):
    """Whether building b (-1: none, which is nowhere) is one of district d's."""
    return b >= 0 and s.bld_district[b] == d


@kernel
def starts_local(s, p, i, d):
    """Whether living agent i (of district d) may take its turn in the first pass: every
    tile within :data:`REACH` of it belongs to d (districts own rectangles, so two
    corners tell), and the object it queues for or walks to, if any, is in d."""
    x, y = s.agent_x[i], s.agent_y[i]
    if _tile_district(s, p, x - REACH, y - REACH) != d or _tile_district(
            s, p, x + REACH, y + REACH) != d:
        return False
    o, dest = s.agent_obj[i], s.agent_dest[i]
    return (o < 0 or in_district(s, o // SLOTS, d)) and (
        dest < 0 or in_district(s, dest // SLOTS, d))


@kernel
def merge(s, b, blocks):
    """After the first pass: the blocks' events appended to the world's in block order
    (the first that fit; the rest counted dropped, as if one buffer had taken them all),
    their counters and money accounts added, their turn counts summed."""
    n, cap = s.evt_len[0], s.evt_code.shape[0]
    dropped = 0
    turns = np.zeros(3, dtype=np.int64)
    for c in range(blocks):
        m = b.evt_len[c, 0]
        take = min(m, cap - n)
        s.evt_code[n:n + take] = b.evt_code[c, :take]
        s.evt_agent[n:n + take] = b.evt_agent[c, :take]
        s.evt_other[n:n + take] = b.evt_other[c, :take]
        s.evt_obj[n:n + take] = b.evt_obj[c, :take]
        s.evt_value[n:n + take] = b.evt_value[c, :take]
        n += take
        dropped += m - take + b.stats[c, St.EVENTS_DROPPED]
        b.stats[c, St.EVENTS_DROPPED] = 0
        s.stats[:] += b.stats[c]
        s.ledger[:] += b.ledger[c]
        turns += b.turns[c]
    s.evt_len[0] = n
    s.stats[St.EVENTS_DROPPED] += dropped
    return turns
