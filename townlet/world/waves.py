"""Deterministic multi-core ticks: district rows in a pipeline (docs/architecture.md, "Waves").

A tick's turns run in slot order, and slots are ordered by district (townlet.world.town):
district d holds slots ``d * R .. d * R + R - 1`` and sits at column ``d % districts_w``,
row ``d // districts_w`` of the district grid. While every living agent is *tame* (it
stands in its district or one next to it, or on the street just past them, and its
queue, destination and meeting place are in them), a turn reads and writes only state within a few districts of the
agent's own: tiles and objects within two tiles of where it stands, shops of its own
and the next districts, and the rows of agents whose homes are at most :data:`TIES`
districts from its own (neighbours it meets, agents queued with it, its ties). So two
turns of districts more than :data:`RADIUS` columns or rows apart touch disjoint state
and commute.

The threads then take whole district rows, the next unclaimed one each (``fetch_add``),
and run a row's districts in slot order, publishing after each district how many of the
row are done. District (y, x) waits until row y - 1 has done its first ``x + RADIUS + 1``
districts: every earlier district within RADIUS of it is then done (row y - 1's by that
count, rows further up because row y - 1's districts waited for them in turn, row y's
because the same thread ran them), and every later one waits for it the same way. So
each pair of turns that may touch the same state runs in slot order, and the result is
the one-thread tick's bit for bit, for any thread count. Each thread writes its own
event buffer, counters and money accounts (``borrowed_with``); after the turns they are
merged in slot order. One fork and join per tick, and a thread streams through whole
rows as the one-thread tick does.

A thread scans a row for agents that are not tame, or may write the exit queue (a global
FIFO), before it runs the row's first district, and the next row waits for that. A row
with such a *wild* agent does not run on the threads, nor does any row after it: the
tick runs them in slot order after the threads are done, on one thread. That orders the
wild agent's own turn, not the turns of earlier rows that write its row: a tame agent
next to it (a chat, a meeting) and its tie partners (a decay, an eviction). Both have
homes within TIES districts of its own while it stands near home (:data:`STRAY`), so
RADIUS orders them. A tick with a tie between homes more than TIES districts apart (an
operator's, or one made by a wild agent) or an agent standing far from home (an
operator's teleport, a policy's primitive moves) runs all its turns in slot order: the
same code as a one-thread tick. A tick that ran every row on the threads makes neither:
tame agents tie agents next to each other, whose homes are within TIES districts, and
step one tile. So the check (``far_count``) runs only after a tick with turns in slot order or
an intervention (``World``). The scan reads only fields an agent's own turn writes (or
the world phase, before the threads), so it may run while earlier rows' turns run.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import prange

from townlet.world.actions import Flag
from townlet.world.atomic import fetch_add, store, wait_until
from townlet.world.borrow import borrowed, borrowed_with
from townlet.world.geometry import PERIOD, SLOTS
from townlet.world.jit import inline_kernel, kernel, parallel_kernel
from townlet.world.jobs import may_join_exit, popcount7
from townlet.world.kernel import Run, end_tick, local_decay, turns, world_phase
from townlet.world.params import Params
from townlet.world.prefetch import nonneg
from townlet.world.routines import shift_start
from townlet.world.state import Need, St, State

__all__ = ["RADIUS", "STRAY", "TIES", "Waves", "district_rows", "far_count", "tick_waves", "waves_for"]

TIES = 3
"""Districts (Chebyshev, on the district grid) between the homes of two agents a turn
may join or read: a neighbour within a tile, a queue companion, a tie."""
RADIUS = 2 * TIES
"""Districts between two turns that may touch the same agent's row."""
WILD = -1
"""Progress of a district row that does not run on the threads: it has a wild agent, or
the row above does not run (the rest of the tick runs in slot order after them)."""
LINE = 64
"""Bytes of a cache line: the padding after each thread's row of counters."""
DW, DH, R = range(3)
"""Entries of ``Waves.geo``: district grid width and height, residents per district."""
KEY = 16
"""Bits of a district key's row part: the key of the district at column c, row r is
``(c + 1) << KEY | (r + 1)`` (``Waves.dist_key``)."""
CORNER = (1 << KEY) | 1
"""A district key minus CORNER is the key of the district one column and row before it."""
X0, XS, Y0, YS = range(4)
"""Entries of a row of ``Waves.span``: the first tile column of a district's 3x3 and how
many columns it spans, the same for tile rows."""
MARGIN = 1
"""Tiles past a 3x3's last column and row where an agent is still tame: the street that
bounds it there. A building's door opens onto the street below it (``outside_door``), and
for the 3x3's last block row that street belongs to the next district row, as the
vertical street right of its last block column belongs to the next column; a tame agent
walking to or from such a door stands on it. A district is ``district_side`` blocks of
``PERIOD`` tiles, so one tile more moves no bound of TIES or RADIUS (docs/architecture.md,
"Waves")."""
STRAY = PERIOD
"""Tiles past a district's 3x3 and :data:`MARGIN` (on every side) within which an agent
still stands *near home*; beyond them it stands far from home and the tick runs in slot
order. At least one step (a tame agent's turn moves it one tile, so a wave tick leaves
every agent near home), and small enough that a tame agent next to one near home lives
within TIES districts of its home: a tame turn touches tiles within three of its own
3x3, and a district is ``district_side`` >= 3 blocks of ``PERIOD``
tiles, so two 3x3s whose homes are TIES + 1 districts apart are a district (24 tiles or
more) apart, more than STRAY + MARGIN + 3."""


class Waves(NamedTuple):
    """Scratch of a wave tick: per thread (rows) an event buffer, counters, money
    accounts and turn sums (alive, critical, savings); per district row the thread that
    ran it and its events (first, kept, dropped: a row's events are contiguous in its
    thread's buffer, so the merge copies a few long runs) and its progress; the next row
    to claim; for the tameness scan, per district the tiles of it and the ones next to it
    and the street past them (``span``, a rectangle: ``X0 .. YS``, :data:`MARGIN`) and its key
    (``dist_key``, ``KEY``), and the key of every object's and building's district at
    index object + 1 and building + 1 (index 0 for none), so the scan divides nothing and
    reads one table per target; the district column and row of every district (``far_count``,
    which reads ``span`` too); the grid (``geo``)."""

    evt_code: np.ndarray
    evt_agent: np.ndarray
    evt_other: np.ndarray
    evt_obj: np.ndarray
    evt_value: np.ndarray
    evt_len: np.ndarray
    stats: np.ndarray
    ledger: np.ndarray
    sums: np.ndarray
    row_evt: np.ndarray
    progress: np.ndarray
    claim: np.ndarray
    span: np.ndarray
    obj_key: np.ndarray
    bld_key: np.ndarray
    dist_key: np.ndarray
    dist_col: np.ndarray
    dist_row: np.ndarray
    geo: np.ndarray


def district_rows(districts: int, districts_w: int) -> int:
    """Rows of the district grid (the last may be shorter): a wave tick's rows."""
    return -(-districts // districts_w)


def waves_for(s: State, p: Params, threads: int) -> Waves:
    """Scratch for wave ticks of the world with state ``s`` on ``threads`` threads. A
    thread's event buffer holds the world's plus one event per agent, so it fills up
    only if a thread's agents averaged more than one event each beyond the world's
    buffer (the merge then stops the run with an error rather than lose an event the
    one-thread tick keeps)."""
    n, districts, dw = s.agent_alive.shape[0], s.district_cafe.shape[0], p.districts_w
    dh, side, bw = district_rows(districts, dw), p.district_side, p.blocks_w
    height, width = s.tile_kind.shape
    bh = (height - 1) // PERIOD
    cap = s.evt_code.shape[0] + n

    def rows(a, *shape):  # a cache line or more between threads' rows: no false sharing
        return np.zeros((threads, *shape[:-1], shape[-1] + LINE // a.itemsize), dtype=a.dtype)

    def district_of(tile, blocks):  # as the scan read it: the last street to the last block
        return (np.minimum(np.arange(tile) // PERIOD, blocks - 1) // side).astype(np.int32)

    col_of_x, row_of_y = district_of(width, bw), district_of(height, bh)
    blocks, d = np.arange(bw * bh), np.arange(districts)
    col, row = d % dw, d // dw
    span = np.zeros((districts, 4), dtype=np.int32)
    for axis, of, at in ((X0, col_of_x, col), (Y0, row_of_y, row)):
        first = np.searchsorted(of, at - 1)  # district_of is sorted: a 3x3's tiles are a range
        span[:, axis] = first
        span[:, axis + 1] = np.searchsorted(of, at + 2) - first + MARGIN

    def key(c, r):
        return ((c.astype(np.int64) + 1) << KEY | (r.astype(np.int64) + 1)).astype(np.int32)

    bld = key((blocks % bw) // side, (blocks // bw) // side)
    objects = np.arange(s.obj_type.shape[0])
    none = np.zeros(1, dtype=np.int32)
    return Waves(rows(s.evt_code, cap), rows(s.evt_agent, cap), rows(s.evt_other, cap),
                 rows(s.evt_obj, cap), rows(s.evt_value, cap), rows(s.evt_len, 1),
                 rows(s.stats, s.stats.shape[0]), rows(s.ledger, s.ledger.shape[0]),
                 rows(np.zeros(0, np.int64), 3), np.zeros((dh, 4), dtype=np.int64),
                 np.zeros(dh, dtype=np.int64), np.zeros(1, dtype=np.int64), span,
                 np.concatenate([none, bld[objects // SLOTS]]), np.concatenate([none, bld]),
                 key(col, row), col.astype(np.int32), row.astype(np.int32),
                 np.array([dw, dh, p.residents_per_district], dtype=np.int64))


@inline_kernel
def _outside(v, first, count):
    """Whether v lies outside ``first .. first + count - 1`` (one unsigned comparison, in
    32 bits: twice the lanes of a vector of 64)."""
    return np.uint32(np.int32(v) - first) >= np.uint32(count)


@inline_kernel
def _far(key, corner):
    """Whether the district with key ``key`` lies beyond the 3x3 whose first district's key
    is ``corner`` (a column or row before it borrows or wraps around: large, beyond)."""
    diff = np.uint32(key - corner)
    return ((diff & np.uint32((1 << KEY) - 1)) > np.uint32(2)) | (
        (diff >> np.uint32(KEY)) > np.uint32(2))


@inline_kernel
def _exit_risk(s, p, i, tod):
    """Whether living agent i's turn may write the exit queue this tick: it waits in it
    and may starve now, or it would join it and its shift may end now (a superset,
    reads only)."""
    if s.agent_flags[i] & Flag.EXIT_PENDING:
        return s.agent_neglect[i, Need.HUNGER] + 1 >= p.death_after
    if may_join_exit(s, p, i):
        j = s.agent_job[i]
        return tod == 0 or tod == shift_start(s, p, i) + p.job_end[j] - p.job_start[j]
    return False


@kernel
def _wild_on(s, p, w, tod, d0, d1):
    """Whether a living agent of districts d0 .. d1 - 1 is not tame (where it stands lies
    beyond its district, that of its slot, the ones next to it and the street
    past them (:data:`MARGIN`), or the building it queues for, walks to or meets at lies beyond those
    districts) or its turn may write the exit queue. Over a district's slots the
    test has no branch, so the compiler vectorises it; the exact exit test runs only for
    a district where an agent waits in the exit queue or was absent often enough to join
    it (rare)."""
    n, per, most = s.agent_alive.shape[0], w.geo[R], np.uint32(p.max_absent)
    span, obj_key, bld_key, dist_key = w.span, w.obj_key, w.bld_key, w.dist_key
    alive, ax, ay, obj, dest, meet = (s.agent_alive, s.agent_x, s.agent_y, s.agent_obj,  # read
                                      s.agent_dest, s.agent_meet_bld)  # once: no reference count
    flags, absences, one = s.agent_flags, s.agent_absences, np.int32(1)
    for d in range(d0, d1):
        x0, xs, y0, ys = span[d, X0], span[d, XS], span[d, Y0], span[d, YS]
        corner, lo, hi = np.int32(dist_key[d] - CORNER), min(d * per, n), min(d * per + per, n)
        far = exits = False
        for slot in range(lo, hi):
            i = nonneg(slot)
            o, to, at = obj[i], dest[i], meet[i]
            wild = _outside(ax[i], x0, xs) | _outside(ay[i], y0, ys)
            wild |= (o >= 0) & _far(obj_key[nonneg(o + one)], corner)
            wild |= (to >= 0) & _far(obj_key[nonneg(to + one)], corner)
            wild |= (at >= 0) & _far(bld_key[nonneg(at + one)], corner)
            risky = ((flags[i] & np.uint8(Flag.EXIT_PENDING)) != 0) | (
                popcount7(np.uint32(absences[i]) | np.uint32(1)) >= most)
            far |= (alive[i] != 0) & wild
            exits |= (alive[i] != 0) & risky
        if far:
            return True
        for i in range(lo, hi if exits else lo):
            if alive[i] and _exit_risk(s, p, i, tod):
                return True
    return False


@kernel
def _far_on(s, w, lo, hi):
    """``_far_span``'s count, on its borrowed view."""
    n = 0
    dist_col, dist_row, span, wide = w.dist_col, w.dist_row, w.span, np.int32(2 * STRAY)
    for i in range(lo, hi):
        d = s.agent_district[i]
        if s.agent_alive[i] and (
                _outside(s.agent_x[i], np.int32(span[d, X0] - STRAY), span[d, XS] + wide)
                | _outside(s.agent_y[i], np.int32(span[d, Y0] - STRAY), span[d, YS] + wide)):
            n += 1
        for k in range(s.rel_other.shape[1]):
            j = s.rel_other[i, k]
            if j >= 0:
                e = s.agent_district[j]
                if abs(dist_col[e] - dist_col[d]) > TIES or abs(dist_row[e] - dist_row[d]) > TIES:
                    n += 1
    return n


@kernel
def _far_span(s, w, lo, hi):
    """Of slots lo .. hi - 1, the living agents standing far from home (beyond their
    district's ``span`` widened by :data:`STRAY` on every side) and the ties whose homes
    are more than TIES districts apart."""
    return _far_on(borrowed(s), w, lo, hi)


@parallel_kernel
def far_count(s, w):
    """Agents standing far from home plus ties between homes more than :data:`TIES`
    districts apart, counted on the wave threads (a wave tick needs none of either)."""
    n, threads = s.agent_alive.shape[0], w.sums.shape[0]
    counts = np.zeros(threads, dtype=np.int64)
    for c in prange(threads):
        counts[c] = _far_span(s, w, n * c // threads, n * (c + 1) // threads)
    return counts.sum()


@kernel
def _own(w, c):
    """Thread c's arrays for ``borrowed_with`` (townlet.world.borrow.OWN_FIELDS order)."""
    return (w.evt_code[c], w.evt_agent[c], w.evt_other[c], w.evt_obj[c], w.evt_value[c],
            w.evt_len[c], w.stats[c], w.ledger[c])


@kernel
def _rows_on(s, p, actions, use_actions, upto, mode, w, t, c):
    """Thread c claims district rows until none is left. It scans a claimed row for wild
    agents: with one the row does not run here (progress :data:`WILD`), else its
    districts run in slot order, each once row y - 1 is far enough; a row whose row above
    does not run does not run either (``s`` writes thread c's events, counters and
    accounts). The scan of a whole row streams the columns its turns read next, so it
    also brings them into the cache (a scan per district, before or after its turns,
    measured slower)."""
    dw, dh, per = w.geo[DW], w.geo[DH], w.geo[R]
    n, districts, tod = s.agent_alive.shape[0], w.dist_key.shape[0], t % p.day
    while True:
        y = fetch_add(w.claim, 0, 1)
        if y >= dh:
            return
        width = min(dw, districts - y * dw)
        if _wild_on(s, p, w, tod, y * dw, y * dw + width):
            store(w.progress, y, WILD)
            continue
        first, lost = s.evt_len[0], s.stats[St.EVENTS_DROPPED]
        for x in range(width):
            if y > 0 and not wait_until(w.progress, y - 1, min(dw, x + RADIUS + 1)):
                store(w.progress, y, WILD)  # only at x == 0: a row runs whole or not
                break
            d = y * dw + x
            lo, hi = min(d * per, n), min(d * per + per, n)
            if lo < hi:
                alive, critical, saved = turns(s, p, actions, use_actions, upto, mode, t, lo, hi)
                w.sums[c, 0] += alive
                w.sums[c, 1] += critical
                w.sums[c, 2] += saved
            store(w.progress, y, dw if x == width - 1 else x + 1)
        w.row_evt[y, 0] = c
        w.row_evt[y, 1] = first
        w.row_evt[y, 2] = s.evt_len[0] - first
        w.row_evt[y, 3] = s.stats[St.EVENTS_DROPPED] - lost


@kernel
def _rows(s, p, actions, use_actions, upto, mode, w, t, c):
    """``_rows_on`` on thread c's borrowed view."""
    _rows_on(borrowed_with(s, _own(w, c)), borrowed(p), actions, use_actions, upto, mode, w,
             t, c)


@parallel_kernel
def _pipeline(s, p, actions, use_actions, upto, mode, w, t):
    """The turns of the district rows before the first with a wild agent, on the wave
    threads; returns that row (the grid's height if none)."""
    for c in prange(w.sums.shape[0]):
        _rows(s, p, actions, use_actions, upto, mode, w, t, c)
    for y in range(w.progress.shape[0]):
        if w.progress[y] == WILD:
            return y
    return w.progress.shape[0]


@kernel
def _merge(s, w, rows):
    """After the turns of the first ``rows`` district rows: their events appended in slot
    order (a full buffer keeps the first, as one buffer would), the threads' counters
    and accounts added; returns the turn sums."""
    n, cap = s.evt_len[0], s.evt_code.shape[0]
    dropped = 0
    for y in range(rows):
        c, first, kept, lost = w.row_evt[y, 0], w.row_evt[y, 1], w.row_evt[y, 2], w.row_evt[y, 3]
        if lost > 0 and n + kept < cap:
            raise RuntimeError("a thread's event buffer overflowed before the world's did")
        take = max(0, min(kept, cap - n))
        s.evt_code[n:n + take] = w.evt_code[c, first:first + take]
        s.evt_agent[n:n + take] = w.evt_agent[c, first:first + take]
        s.evt_other[n:n + take] = w.evt_other[c, first:first + take]
        s.evt_obj[n:n + take] = w.evt_obj[c, first:first + take]
        s.evt_value[n:n + take] = w.evt_value[c, first:first + take]
        n += take
        dropped += kept - take + lost
    s.evt_len[0] = n
    alive = critical = saved = 0
    for c in range(w.sums.shape[0]):
        w.stats[c, St.EVENTS_DROPPED] = 0
        s.stats[:] += w.stats[c, :s.stats.shape[0]]
        s.ledger[:] += w.ledger[c, :s.ledger.shape[0]]
        alive += w.sums[c, 0]
        critical += w.sums[c, 1]
        saved += w.sums[c, 2]
    s.stats[St.EVENTS_DROPPED] += dropped
    return alive, critical, saved


@kernel
def _reset(w):
    """Empty the threads' buffers, counters, accounts and sums; no row claimed or done."""
    w.evt_len[:, 0] = 0
    w.stats[:, :] = 0
    w.ledger[:, :] = 0
    w.sums[:, :] = 0
    w.progress[:] = 0
    w.claim[0] = 0


@kernel
def tick_waves(s, p, actions, use_actions, upto, mode, w, near):
    """``townlet.world.kernel.tick`` on ``w.sums.shape[0]`` threads: if ``near`` (``far_count``
    counts none: every agent stands near home and no tie joins homes more than TIES
    districts apart), the district rows before the first with a wild agent on every
    thread and the rest in slot order, else every turn in slot order; returns how many
    rows ran on the threads. Either way the state is the one-thread tick's."""
    sb, pb = borrowed(s), borrowed(p)
    t = world_phase(sb, pb)
    n = s.agent_alive.shape[0]
    if near:
        _reset(w)
        local = mode - (mode & Run.PARALLEL)  # the turns decay every need themselves
        first = _pipeline(s, p, actions, use_actions, upto, local, w, t)
        alive, critical, saved = _merge(sb, w, first)
        lo = min(first * w.geo[DW] * w.geo[R], n)
        more, crit, save = turns(sb, pb, actions, use_actions, upto, local, t, lo, n)
        alive, critical, saved = alive + more, critical + crit, saved + save
    else:
        first = 0
        local_decay(sb, pb, upto, mode)
        alive, critical, saved = turns(sb, pb, actions, use_actions, upto, mode, t, 0, n)
    end_tick(sb, pb, t, upto, alive, critical, saved)
    return first
