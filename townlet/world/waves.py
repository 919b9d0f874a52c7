"""Deterministic multi-core ticks: districts in waves (docs/architecture.md, "Waves").

A tick's turns run in slot order, and slots are ordered by district (townlet.world.town):
district d holds slots ``d * R .. d * R + R - 1`` and sits at column ``d % districts_w``,
row ``d // districts_w`` of the district grid. While every living agent is *tame* (it
stands in its district or one next to it, and its queue, destination and meeting place
are there too), a turn reads and writes only state within a few districts of the
agent's own: tiles and objects within two tiles of where it stands, shops of its own
and the next districts, and the rows of agents whose homes are at most :data:`TIES`
districts from its own (neighbours it meets, agents queued with it, its ties). So two
turns of districts more than :data:`RADIUS` columns or rows apart touch disjoint state
and commute.

The tick then runs *tasks* (``chunk`` districts of one grid row, a contiguous slot
range, ``_chunk``) in *waves*: task (row y, column x) belongs to wave ``x + (q + 1) * y``
with ``q = ceil(RADIUS / chunk)``. Tasks of one wave are more than RADIUS columns apart and
run on all threads; every task that precedes another in slot order and may touch the
same state is in an earlier wave. Each thread writes its own event buffer, counters and
money accounts (``borrowed_with``); after the waves they are merged in slot order. The
result is the one-thread tick's bit for bit, for any thread count.

A tick with an agent that is not tame, one that may write the exit queue (a global
FIFO), or a tie between homes more than TIES districts apart (an operator's, or one made
while an agent was not tame) runs its turns in slot order on one thread instead: the same
code as a one-thread tick. Ties formed during a wave tick join agents next to each
other, whose homes are within TIES districts, so the tie check runs only after a tick in
slot order or an intervention (``World``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import prange

from townlet.world.actions import Flag
from townlet.world.borrow import borrowed, borrowed_with
from townlet.world.geometry import PERIOD, SLOTS
from townlet.world.jit import kernel, parallel_kernel
from townlet.world.jobs import may_join_exit
from townlet.world.kernel import Run, end_tick, local_decay, turns, world_phase
from townlet.world.params import Params
from townlet.world.routines import shift_start
from townlet.world.state import Need, St, State

__all__ = ["RADIUS", "SPARE", "TIES", "Waves", "far_ties", "tick_waves", "waves_for"]

TIES = 3
"""Districts (Chebyshev, on the district grid) between the homes of two agents a turn
may join or read: a neighbour within a tile, a queue companion, a tie."""
RADIUS = 2 * TIES
"""Districts between two turns that may touch the same agent's row."""
SPARE = 2
"""Tasks per wave and thread wanted: the widest task that leaves this many runs (every
wave is a fork and join, so fewer, wider tasks wait less; but a wave of tasks of
different sizes waits for its slowest thread)."""
DW, DH, NCX, Q, NWAVES, R, CHUNK = range(7)
"""Entries of ``Waves.geo``: district grid width and height, tasks per row, task
distance that commutes minus one, waves, residents per district, districts per task."""


def _chunk(dw: int, threads: int) -> int:
    """Districts per task on a grid ``dw`` districts wide: the widest up to RADIUS with
    :data:`SPARE` tasks per wave and thread (a wave holds about ``tasks per row / (q + 1)``),
    else one."""
    for chunk in range(RADIUS, 0, -1):
        if -(-dw // chunk) >= SPARE * threads * (-(-RADIUS // chunk) + 1):
            return chunk
    return 1


class Waves(NamedTuple):
    """Scratch of a wave tick: per thread (rows) an event buffer, counters, money
    accounts and turn sums (alive, critical, savings); per task the thread that ran it
    and its events (first, kept, dropped); the grid (``geo``)."""

    evt_code: np.ndarray
    evt_agent: np.ndarray
    evt_other: np.ndarray
    evt_obj: np.ndarray
    evt_value: np.ndarray
    evt_len: np.ndarray
    stats: np.ndarray
    ledger: np.ndarray
    sums: np.ndarray
    task_evt: np.ndarray
    geo: np.ndarray


def waves_for(s: State, p: Params, threads: int) -> Waves:
    """Scratch for wave ticks of the world with state ``s`` on ``threads`` threads. A
    thread's event buffer holds the world's plus one event per agent, so it fills up
    only if a thread's agents averaged more than one event each beyond the world's
    buffer (the merge then stops the run with an error rather than lose an event the
    one-thread tick keeps)."""
    n, districts, dw = s.agent_alive.shape[0], s.district_cafe.shape[0], p.districts_w
    chunk = _chunk(dw, threads)
    dh, ncx, q = -(-districts // dw), -(-dw // chunk), -(-RADIUS // chunk)
    cap = s.evt_code.shape[0] + n

    def rows(a, *shape):
        return np.zeros((threads, *shape), dtype=a.dtype)

    return Waves(rows(s.evt_code, cap), rows(s.evt_agent, cap), rows(s.evt_other, cap),
                 rows(s.evt_obj, cap), rows(s.evt_value, cap), rows(s.evt_len, 1),
                 rows(s.stats, s.stats.shape[0]), rows(s.ledger, s.ledger.shape[0]),
                 np.zeros((threads, 3), dtype=np.int64), np.zeros((dh * ncx, 4), dtype=np.int64),
                 np.array([dw, dh, ncx, q, ncx + (q + 1) * (dh - 1), p.residents_per_district,
                           chunk], dtype=np.int64))


@kernel
def _near(p, bx, by, d):
    """Whether block (bx, by) lies in district d or one next to it."""
    side, dw = p.district_side, p.districts_w
    return abs(bx // side - d % dw) <= 1 and abs(by // side - d // dw) <= 1


@kernel
def _building_near(p, b, d):
    """Whether building b (-1: none) lies in district d or one next to it."""
    return b < 0 or _near(p, b % p.blocks_w, b // p.blocks_w, d)


@kernel
def _wild(s, p, i, tod):
    """Whether living agent i may reach beyond what a wave tick allows this tick: it is
    not tame, or its turn may write the exit queue (it waits in it and may starve now, or
    it would join it and its shift may end now; a superset, reads only)."""
    d = s.agent_district[i]
    bh = (s.tile_kind.shape[0] - 1) // PERIOD
    bx = min(s.agent_x[i] // PERIOD, p.blocks_w - 1)
    by = min(s.agent_y[i] // PERIOD, bh - 1)
    o, dest = s.agent_obj[i], s.agent_dest[i]
    if not (_near(p, bx, by, d) and _building_near(p, o // SLOTS if o >= 0 else -1, d) and (
            _building_near(p, dest // SLOTS if dest >= 0 else -1, d)) and (
            _building_near(p, s.agent_meet_bld[i], d))):
        return True
    if s.agent_flags[i] & Flag.EXIT_PENDING:
        return s.agent_neglect[i, Need.HUNGER] + 1 >= p.death_after
    if may_join_exit(s, p, i):
        j = s.agent_job[i]
        return tod == 0 or tod == shift_start(s, p, i) + p.job_end[j] - p.job_start[j]
    return False


@kernel
def _wild_on(s, p, tod, lo, hi):
    n = 0
    for i in range(lo, hi):
        if s.agent_alive[i] and _wild(s, p, i, tod):
            n += 1
    return n


@kernel
def _wild_span(s, p, tod, lo, hi):
    """Wild agents among slots lo .. hi - 1 (``_wild``)."""
    return _wild_on(borrowed(s), borrowed(p), tod, lo, hi)


@parallel_kernel
def _wild_count(s, p, tod, threads):
    """Wild agents in the town, counted on ``threads`` threads."""
    n = s.agent_alive.shape[0]
    counts = np.zeros(threads, dtype=np.int64)
    for c in prange(threads):
        counts[c] = _wild_span(s, p, tod, n * c // threads, n * (c + 1) // threads)
    return counts.sum()


@kernel
def _far_ties_on(s, p, lo, hi):
    n = 0
    dw = p.districts_w
    for i in range(lo, hi):
        d = s.agent_district[i]
        for k in range(s.rel_other.shape[1]):
            j = s.rel_other[i, k]
            if j >= 0:
                e = s.agent_district[j]
                if abs(e % dw - d % dw) > TIES or abs(e // dw - d // dw) > TIES:
                    n += 1
    return n


@kernel
def _far_ties_span(s, p, lo, hi):
    """Ties of slots lo .. hi - 1 whose homes are more than TIES districts apart."""
    return _far_ties_on(borrowed(s), borrowed(p), lo, hi)


@parallel_kernel
def far_ties(s, p, threads):
    """Ties between homes more than :data:`TIES` districts apart, counted on ``threads``
    threads (a wave tick needs none)."""
    n = s.agent_alive.shape[0]
    counts = np.zeros(threads, dtype=np.int64)
    for c in prange(threads):
        counts[c] = _far_ties_span(s, p, n * c // threads, n * (c + 1) // threads)
    return counts.sum()


@kernel
def _own(w, c):
    """Thread c's arrays for ``borrowed_with`` (townlet.world.borrow.OWN_FIELDS order)."""
    return (w.evt_code[c], w.evt_agent[c], w.evt_other[c], w.evt_obj[c], w.evt_value[c],
            w.evt_len[c], w.stats[c], w.ledger[c])


@kernel
def _share_on(s, p, actions, use_actions, upto, mode, w, t, wave, c):
    """Thread c's tasks of ``wave``, each in slot order (``s`` writes thread c's events,
    counters and accounts)."""
    dw, dh, ncx, q, per, chunk = w.geo[DW], w.geo[DH], w.geo[NCX], w.geo[Q], w.geo[R], \
        w.geo[CHUNK]
    threads, n = w.sums.shape[0], s.agent_alive.shape[0]
    y_lo = max(0, (wave - ncx + 1 + q) // (q + 1))
    y_hi = min(dh - 1, wave // (q + 1))
    m = y_hi - y_lo + 1
    for k in range(m * c // threads, m * (c + 1) // threads):
        y = y_lo + k
        x = wave - (q + 1) * y
        d = y * dw + x * chunk
        lo, hi = min(d * per, n), min(min(d + chunk, y * dw + dw) * per, n)
        first, lost = s.evt_len[0], s.stats[St.EVENTS_DROPPED]
        if lo < hi:
            alive, critical, saved = turns(s, p, actions, use_actions, upto, mode, t, lo, hi)
            w.sums[c, 0] += alive
            w.sums[c, 1] += critical
            w.sums[c, 2] += saved
        task = y * ncx + x
        w.task_evt[task, 0] = c
        w.task_evt[task, 1] = first
        w.task_evt[task, 2] = s.evt_len[0] - first
        w.task_evt[task, 3] = s.stats[St.EVENTS_DROPPED] - lost


@kernel
def _share(s, p, actions, use_actions, upto, mode, w, t, wave, c):
    """``_share_on`` on thread c's borrowed view."""
    _share_on(borrowed_with(s, _own(w, c)), borrowed(p), actions, use_actions, upto, mode, w,
              t, wave, c)


@parallel_kernel
def _wave(s, p, actions, use_actions, upto, mode, w, t, wave):
    """One wave: its tasks shared out over the threads."""
    for c in prange(w.sums.shape[0]):
        _share(s, p, actions, use_actions, upto, mode, w, t, wave, c)


@kernel
def _merge(s, w):
    """After the waves: the tasks' events appended in slot order (a full buffer keeps
    the first, as one buffer would), the threads' counters and accounts added; returns
    the turn sums."""
    n, cap = s.evt_len[0], s.evt_code.shape[0]
    dropped = 0
    for task in range(w.task_evt.shape[0]):
        c, first, kept, lost = w.task_evt[task, 0], w.task_evt[task, 1], w.task_evt[task, 2], \
            w.task_evt[task, 3]
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
        s.stats[:] += w.stats[c]
        s.ledger[:] += w.ledger[c]
        alive += w.sums[c, 0]
        critical += w.sums[c, 1]
        saved += w.sums[c, 2]
    s.stats[St.EVENTS_DROPPED] += dropped
    return alive, critical, saved


@kernel
def _reset(w):
    """Empty the threads' buffers, counters, accounts and sums."""
    w.evt_len[:, 0] = 0
    w.stats[:, :] = 0
    w.ledger[:, :] = 0
    w.sums[:, :] = 0


@kernel
def tick_waves(s, p, actions, use_actions, upto, mode, w, ties_near):
    """``townlet.world.kernel.tick`` on ``w.sums.shape[0]`` threads: the turns in waves
    when every agent is tame and ``ties_near`` (no tie joins homes more than TIES
    districts apart), else in slot order; returns whether they ran in waves. Either way
    the state is the one-thread tick's."""
    sb, pb = borrowed(s), borrowed(p)
    t = world_phase(sb, pb)
    threads = w.sums.shape[0]
    waves = ties_near and _wild_count(s, p, t % pb.day, threads) == 0
    if waves:
        _reset(w)
        local = mode - (mode & Run.PARALLEL)  # the turns decay every need themselves
        for wave in range(w.geo[NWAVES]):
            _wave(s, p, actions, use_actions, upto, local, w, t, wave)
        alive, critical, saved = _merge(sb, w)
    else:
        local_decay(sb, pb, upto, mode)
        alive, critical, saved = turns(sb, pb, actions, use_actions, upto, mode, t, 0,
                                       s.agent_alive.shape[0])
    end_tick(sb, pb, t, upto, alive, critical, saved)
    return waves
