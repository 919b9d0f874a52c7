"""The tick: one compiled call advances the whole town by one step.

The event buffer is not cleared here: ``World`` starts a new batch before the
first intervention or tick that follows a tick, so events caused by operator
interventions are delivered with the next tick's batch.

Order per tick: clock; perturbation scheduler; shop deliveries; at midnight the
day's rent (townlet.world.economy); with more than one thread, the decay of every
need no other agent changes during a tick (all but social), of every living agent, on
all threads (``decay_local``: rows are independent, so the result is the same for any
thread count, and the same as the slot loop's own decay on one thread); then, per
agent in slot order: arrival of newcomers, the day's plan and paying rent (at
midnight), need decay and neglect, vital signs (starvation, fainting, collapse from
exhaustion), shift
and wages, relationships (hourly decay and co-presence), reservation upkeep, affordance
completion, and the
action (scripted, option or primitive); finally the exit queue.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import prange

from townlet.world.actions import N_ACTIONS, OPTION_GOAL, A, Action, Flag, G
from townlet.world.affordances import complete, fail_running, start
from townlet.world.ahead import frontier, pending
from townlet.world.borrow import borrowed
from townlet.world.economy import pay_rent, savings, set_rent
from townlet.world.events import EventCode, Reason, emit
from townlet.world.geometry import SLOTS, building_of, walkable
from townlet.world.jit import inline_kernel, kernel, parallel_kernel, uncounted_kernel
from townlet.world.jobs import near_shift, pop_exit, shift_update
from townlet.world.lifecycle import remove, respawn_due, vital_signs
from townlet.world.names import index_enum
from townlet.world.neglect import count_neglect
from townlet.world.perturb import schedule_tick
from townlet.world.policy import decide, pursue, wakes_up
from townlet.world.prefetch import nonneg, prefetch, prefetch_at
from townlet.world.queues import check_idle_holder, leave_queue, request
from townlet.world.routines import arrive_traits, plan_day, rate_of, shift_start, wrap
from townlet.world.shops import restock
from townlet.world.social import chat, conflict, hourly_ties, tile_link, tile_unlink
from townlet.world.state import N_NEEDS, UNPLANNED, Econ, ExitMeta, Need, Resv, St, Today

__all__ = ["PHASES", "Phase", "Run", "counted_turns", "decay_local", "end_tick", "local_decay",
           "tick", "turns", "world_phase"]

PHASES = ("world", "arrivals", "needs", "shift", "ties", "upkeep", "goal", "move", "exits")
"""The tick's phases in order: world (clock, perturbations, restock, rent, and the slot
loop itself), arrivals (newcomers, the day's plan, teleport flags), needs (decay, vital
signs), shift (attendance, wages), ties (hourly relationships), upkeep (reservations),
goal (affordance completion, the scripted goal), move (pursuit: walking, queues,
interactions, chats; primitive and option actions), exits (the exit queue)."""
Phase = index_enum("Phase", PHASES)
"""``tick(..., upto)`` runs the phases before ``upto`` only: ``len(PHASES)`` is a full
tick; a shorter prefix exists to measure each phase's cost (townlet.world.phases)."""


class Run(IntEnum):
    """Bits of ``tick``'s ``mode``."""

    PARALLEL = 1  # decay_local runs (on the threads numba.set_num_threads allows)
    MIGRATE = 2  # a living agent may have undrawn routines (loaded from before routines)
    PREFETCH = 4  # the slot loop prefetches rows ahead (a town too big for the cache)


PREFETCH_FROM = 75_000
"""Agent slots from which ``World`` ticks with ``Run.PREFETCH``. A smaller town's state
stays in the CPU caches between ticks, so prefetching its rows only adds instructions
(measured, ns per agent-tick with / without: 10k 48 / 43, 25k 51 / 40, 50k 49 / 41,
75k 49-53 / 51-53, 100k 56 / 90, 1M 59 / 91); a bigger one streams its hot columns
from memory on every tick."""

OPTION_GOALS = np.array([OPTION_GOAL[Action(a)] for a in range(A.GO_EAT, N_ACTIONS)], dtype=np.int8)
"""Goal of each option action, indexed by ``action - A.GO_EAT``."""
DX = np.array([0, 0, 1, 0, -1], dtype=np.int64)
DY = np.array([0, -1, 0, 1, 0], dtype=np.int64)


@kernel
def object_here(s, p, i):
    """The object whose access tile agent i stands on, or -1."""
    x, y = s.agent_x[i], s.agent_y[i]
    b = building_of(x, y, p.blocks_w)
    if b < 0:
        return -1
    for o in range(b * SLOTS, b * SLOTS + SLOTS):
        if s.obj_type[o] >= 0 and s.obj_ax[o] == x and s.obj_ay[o] == y:
            return o
    return -1


@kernel
def _move(s, p, i, a, t):
    """Step agent i one tile in direction ``a`` if walkable (leaving its queue); returns success."""
    x, y = s.agent_x[i] + DX[a], s.agent_y[i] + DY[a]
    h, w = s.tile_kind.shape
    if x < 0 or y < 0 or x >= w or y >= h or not walkable(s.tile_kind[y, x]):
        return False
    leave_queue(s, i, t)
    tile_unlink(s, i)
    s.agent_x[i], s.agent_y[i] = x, y
    tile_link(s, i)
    return True


@kernel
def _interact(s, p, i, t):
    """Agent i uses the object underfoot: queues for it, or starts it when holding it."""
    o = object_here(s, p, i)
    if o < 0:
        return False
    if s.agent_obj[i] != o:
        leave_queue(s, i, t)
    if s.agent_resv[i] == Resv.NONE and not request(s, i, o, t):
        return False
    if s.agent_resv[i] == Resv.HOLDING:
        return start(s, p, i, t)
    return True


@kernel
def _primitive(s, p, i, a, t):
    """A primitive action; returns whether it succeeded."""
    if a == A.WAIT:
        return True
    if a <= A.MOVE_W:
        return _move(s, p, i, a, t)
    if a == A.INTERACT:
        return _interact(s, p, i, t)
    if a == A.TALK:
        return chat(s, p, i, t, True)
    leave_queue(s, i, t)  # CANCEL with nothing running: leave the queue
    return True


@inline_kernel
def _upkeep(s, p, i, t):
    """Reservation housekeeping: idle holders time out; impatient waiters clash."""
    if s.agent_resv[i] == Resv.HOLDING and s.agent_aff[i] < 0:
        check_idle_holder(s, p, i, t)
    elif s.agent_resv[i] == Resv.WAITING and t - s.agent_resv_since[i] == p.patience:
        holder = s.obj_holder[s.agent_obj[i]]
        if holder >= 0:
            conflict(s, p, i, holder, s.agent_obj[i])


@inline_kernel
def _set_goal(s, i, t, goal):
    """Make ``goal`` agent i's goal; a new goal drops the queue and destination of the old."""
    if goal != s.agent_goal[i]:
        leave_queue(s, i, t)
        s.agent_dest[i] = -1
        s.agent_goal[i] = goal


@inline_kernel
def _act(s, p, i, a, t, tod, upto):
    """Run agent i's action for this tick (after bookkeeping; up to the goal phase
    only if ``upto`` is ``Phase.MOVE``)."""
    if s.agent_aff[i] >= 0:  # busy: only a cancellation interrupts
        if t >= s.agent_aff_end[i]:
            complete(s, p, i, t)
            s.agent_option[i] = 0
        elif a == A.CANCEL:
            fail_running(s, p, i, t, Reason.CANCELLED)
            s.agent_option[i] = 0
            s.agent_action_ok[i] = 1
        return
    if a >= A.GO_EAT:
        s.agent_option[i] = 1
        _set_goal(s, i, t, OPTION_GOALS[a - A.GO_EAT])
    if s.agent_option[i] and a != A.CANCEL:
        if pursue(s, p, i, s.agent_goal[i], t) and s.agent_aff[i] < 0:
            s.agent_option[i] = s.agent_resv[i] != Resv.NONE  # presence reached: option done
        s.agent_action_ok[i] = 1
        return
    if a == A.SCRIPTED:
        goal = decide(s, p, i, t, tod)
        if upto <= Phase.MOVE:
            return
        _set_goal(s, i, t, goal)
        pursue(s, p, i, goal, t)
        s.agent_action_ok[i] = 1
        return
    s.agent_option[i] = 0
    s.agent_goal[i] = G.NONE
    s.agent_action_ok[i] = _primitive(s, p, i, a, t)


@inline_kernel
def _decay(needs, habits, need_decay, i, n):
    """One tick of decay of need n of agent i (clamped at 0)."""
    needs[i, n] = max(np.float32(0.0), needs[i, n] - rate_of(need_decay, habits, i, n))


@inline_kernel
def _unplanned(today, i, mode):
    """Whether agent i still has to draw its routines (only ever after loading a state
    from before routines, which ``Run.MIGRATE`` announces; then it draws them at its turn,
    before its first decay)."""
    return (mode & Run.MIGRATE) != 0 and today[i, Today.WORKS] == UNPLANNED


@parallel_kernel
def decay_local(alive, today, needs, habits, need_decay, mode):
    """Decay every need but social (which chats of other agents change during the tick)
    of every living agent with drawn routines; each iteration writes its own row only."""
    for i in prange(alive.shape[0]):
        if alive[i] and not _unplanned(today, i, mode):
            for n in range(needs.shape[1]):
                if n != Need.SOCIAL:
                    _decay(needs, habits, need_decay, i, n)


@inline_kernel
def _needs_vital(s, p, i, t, local):
    """Decay needs (only social if ``local``: the rest was decayed by ``decay_local``)
    and count the ticks they sit at 0 (townlet.world.neglect); run the lifecycle checks
    only when hunger is in danger, the agent lies fainted or exhaustion fells it.
    Returns (can act, any need critical)."""
    critical = False
    for n in range(N_NEEDS):  # a constant count: the loop unrolls, rate_of's branches fold
        if not local or n == Need.SOCIAL:
            _decay(s.agent_needs, s.agent_habits, p.need_decay, i, n)
        v = s.agent_needs[i, n]
        critical |= v < p.need_crit[n]
        if not v > 0 or s.agent_neglect[i, n] != 0:  # else count_neglect has nothing to do
            count_neglect(s, p, i, n, v)
    hunger = s.agent_needs[i, Need.HUNGER]
    if hunger <= p.need_crit[Need.HUNGER] * 0.5 or s.agent_neglect[i, Need.HUNGER] > 0 or (
            s.agent_flags[i] & Flag.FAINTED) or (
            s.agent_neglect[i, Need.ENERGY] >= p.need_neglect[Need.ENERGY]):
        return vital_signs(s, p, i, t), critical
    return True, critical


@inline_kernel
def _agent(s, p, i, a, t, tod, hourly, upto, mode):
    """One agent's tick (the phases before ``upto``); returns whether one of its needs is
    critical. ``hourly``: this tick is agent i's hour mark ((i + t) % hour == 0)."""
    unplanned = _unplanned(s.agent_today, i, mode)
    if unplanned:
        arrive_traits(s, p, i, s.agent_gen[i], t)
    if tod == 0:
        s.agent_wages_today[i] = 0
        s.agent_absences[i] = (s.agent_absences[i] << 1) & 0x7F
        plan_day(s, p, i, t)
        pay_rent(s, p, i)
    if s.agent_flags[i] & Flag.TELEPORTED and t > s.agent_teleported_at[i] + 1:
        s.agent_flags[i] &= ~np.uint8(Flag.TELEPORTED)  # seen by one tick's observers
    if upto <= Phase.NEEDS:
        return False
    can_act, critical = _needs_vital(s, p, i, t, (mode & Run.PARALLEL) != 0 and not unplanned)
    if not can_act or upto <= Phase.SHIFT:
        return critical
    j = s.agent_job[i]
    if near_shift(p, j, tod) and s.agent_today[i, Today.WORKS]:
        start = shift_start(s, p, i)
        if start <= tod <= start + p.job_end[j] - p.job_start[j] or (
                tod == wrap(start - p.arrival_buffer, p.day)):
            shift_update(s, p, i, tod, start)
    if upto <= Phase.TIES:
        return critical
    if hourly:
        hourly_ties(s, p, i, t)
    if upto <= Phase.UPKEEP:
        return critical
    if s.agent_resv[i] != Resv.NONE:
        _upkeep(s, p, i, t)
    if upto <= Phase.GOAL:
        return critical
    s.agent_action[i] = a
    if s.agent_aff[i] >= 0 and t < s.agent_aff_end[i] and a != A.CANCEL:
        if a != A.SCRIPTED or not wakes_up(s, p, i):
            return critical  # busy with an affordance
        fail_running(s, p, i, t, Reason.HUNGRY)
    _act(s, p, i, a, t, tod, upto)
    return critical


@kernel
def tick(s, p, actions, use_actions, upto, mode):
    """Advance the world by one tick. ``actions`` is read only if ``use_actions``;
    ``upto``: ``len(PHASES)`` for a tick, less to run only the phases before it;
    ``mode``: ``Run`` bits.

    The tick runs on borrowed views of ``s`` and ``p`` (townlet.world.borrow):
    the same arrays, without per-call reference counting, and its turn loop (``turns``)
    without reference counting at all. ``decay_local`` runs on as many threads as
    ``numba.set_num_threads`` allows (townlet.world.World sets it)."""
    sb, pb = borrowed(s), borrowed(p)
    t = world_phase(sb, pb)
    local_decay(sb, pb, upto, mode)
    alive, critical, saved = turns(sb, pb, actions, use_actions, upto, mode, t, 0,
                                   sb.agent_alive.shape[0])
    end_tick(sb, pb, t, upto, alive, critical, saved)


AHEAD = 32
"""Slots ahead of the agent being ticked whose hot columns are prefetched."""
BLOCK = 8
"""The hot columns are prefetched for BLOCK slots at a time, every BLOCK slots (rows
are at most 16 bytes: BLOCK rows span at most two cache lines)."""
NEAR = 16
"""Slots ahead whose tiles and ties are prefetched (their rows, read for that, came
AHEAD - NEAR slots earlier)."""


@inline_kernel
def _prefetch_block(s, i):
    """Start loading rows i .. i + BLOCK - 1 of every column a tick reads for most
    agents: one prefetch per column (BLOCK rows of up to 8 bytes span at most a cache
    line; a line they share with the next rows is the next block's), two for the
    16-byte rows (townlet.world.prefetch: a hint, no effect on any value)."""
    prefetch(s.agent_alive, i)
    prefetch(s.agent_flags, i)
    prefetch(s.agent_job, i)
    prefetch(s.agent_resv, i)
    prefetch(s.agent_action, i)
    prefetch(s.agent_action_ok, i)
    prefetch(s.agent_goal, i)
    prefetch(s.agent_option, i)
    prefetch(s.agent_shift, i)
    prefetch(s.agent_aff, i)
    prefetch(s.agent_food, i)
    prefetch(s.agent_x, i)
    prefetch(s.agent_y, i)
    prefetch(s.agent_aff_end, i)
    prefetch(s.agent_district, i)
    prefetch(s.agent_meet_bld, i)
    prefetch(s.agent_dest, i)
    prefetch(s.agent_obj, i)
    prefetch(s.agent_home, i)
    prefetch(s.agent_work, i)
    prefetch(s.agent_t_next, i)
    prefetch(s.agent_t_prev, i)
    prefetch(s.agent_wallet, i)
    prefetch(s.agent_neglect, i)
    prefetch(s.agent_roster, i)
    prefetch(s.agent_needs, i)
    prefetch(s.agent_needs, i + BLOCK // 2)
    prefetch(s.agent_habits, i)
    prefetch(s.agent_habits, i + BLOCK // 2)
    prefetch(s.agent_today, i)
    prefetch(s.agent_today, i + BLOCK // 2)


@inline_kernel
def _prefetch_near(s, i, hourly):
    """Start loading what agent i may reach beyond its own row: if it may walk (it
    runs no affordance) or it is at its hour mark (``hourly``: it meets a neighbour),
    the occupancy lists of its tile's row and the rows above and below, its tile
    neighbours' links and the access tile and holder of the object it queues for or
    walks to; at its hour mark, its ties too."""
    if i >= s.agent_aff.shape[0]:
        return
    # no branch on the agent: whether it runs an affordance changes from slot to slot, a
    # branch on it mispredicts often; a busy agent's indices are 0 and fetch one line again
    k = np.int64(hourly | (s.agent_aff[i] < 0))
    x, y = s.agent_x[i] * k, s.agent_y[i] * k
    prefetch_at(s.tile_head, y - 1, x)
    prefetch_at(s.tile_head, y, x)
    prefetch_at(s.tile_head, y + 1, x)
    prefetch(s.agent_t_prev, s.agent_t_next[i] * k)  # the links a step rewrites
    prefetch(s.agent_t_next, s.agent_t_prev[i] * k)
    o = max(s.agent_obj[i], s.agent_dest[i] * (s.agent_obj[i] < 0)) * k
    prefetch(s.obj_ax, o)  # the object it queues for, holds or walks to: where to stand,
    prefetch(s.obj_ay, o)  # who holds it (-1 when none: a hint, harmless)
    prefetch(s.obj_holder, o)
    if hourly:
        last = s.rel_other.shape[1] - 1
        for rel in (s.rel_trust, s.rel_fam, s.rel_riv):
            prefetch_at(rel, i, 0)
            prefetch_at(rel, i, last)
        prefetch_at(s.rel_other, i, 0)
        prefetch_at(s.rel_other, i, last)


@inline_kernel
def world_phase(s, p):
    """Clock, perturbations, the delivery and, at midnight, the exit count and the rent
    rule; returns the new tick."""
    t = s.clock[0] + 1
    s.clock[0] = t
    tod = t % p.day
    schedule_tick(s, p, t)
    if tod == p.restock_at:
        restock(s, p, True)
    if tod == 0:
        s.exit_meta[ExitMeta.EXITS_TODAY] = 0
        set_rent(s, p)
    return t


@uncounted_kernel
def turns(s, p, actions, use_actions, upto, mode, t, lo, hi):
    """The turns of slots lo .. hi - 1 in order at tick t; returns how many were alive,
    how many had a critical need and, on the last tick of the day, their savings. One
    compiled loop for the one-thread tick and every task of a wave tick
    (townlet.world.waves), on borrowed views only (compiled without reference counting,
    townlet.world.jit ``uncounted_kernel``)."""
    return _slots(s, p, actions, use_actions, upto, mode, t, lo, hi)


@kernel
def counted_turns(s, p, actions, use_actions, upto, mode, t, lo, hi):
    """``turns`` compiled with reference counting, which the StructRefs themselves need
    (``_tick``)."""
    return _slots(s, p, actions, use_actions, upto, mode, t, lo, hi)


@inline_kernel
def _slots(s, p, actions, use_actions, upto, mode, t, lo, hi):
    """The turn loop of ``turns`` and ``counted_turns``."""
    alive = critical = saved = 0
    copying = pending(s)  # an autosave copies the rows meanwhile: take each block first
    tod = t % p.day
    last = tod == p.day - 1  # the last tick of the day sums the savings rent draws on
    mark = (t + lo) % p.hour  # (i + t) % hour, advanced per slot without dividing
    near = (t + lo + NEAR) % p.hour  # the same for slot i + NEAR
    ahead = (mode & Run.PREFETCH) != 0
    for slot in range(lo, hi):
        i = nonneg(slot)  # as fast as from slot 0: no index below wraps around
        hourly = mark == 0
        mark = mark + 1 if mark + 1 < p.hour else 0
        if ahead:
            if i % BLOCK == 0:
                _prefetch_block(s, i + AHEAD)
            _prefetch_near(s, i + NEAR, near == 0)
            near = near + 1 if near + 1 < p.hour else 0
        frontier(s, i, copying)
        if upto <= Phase.ARRIVALS:
            continue
        if not s.agent_alive[i]:
            respawn_due(s, p, i, t)
            continue
        a = actions[i] if use_actions else np.int8(A.SCRIPTED)
        if s.agent_flags[i] & Flag.POSSESSED:
            a = s.agent_possessed_action[i]
            s.agent_possessed_action[i] = A.WAIT
        alive += 1
        critical += _agent(s, p, i, a, t, tod, hourly, upto, mode)
        if last:
            saved += savings(s, p, i)
    return alive, critical, saved


@inline_kernel
def end_tick(s, p, t, upto, alive, critical, saved):
    """After the turns: the day's savings (on its last tick), the turn counters and the
    exit queue."""
    if t % p.day == p.day - 1:
        s.econ[Econ.SAVINGS] = saved
    s.stats[St.AGENT_TICKS] += alive
    s.stats[St.CRITICAL_TICKS] += critical
    while upto > Phase.EXITS:
        i = pop_exit(s, p, t)
        if i < 0:
            break
        s.stats[St.EXITS] += 1
        emit(s, EventCode.EXIT_PROCESSED, i, -1, -1, 0.0)
        remove(s, p, i, t, Reason.EXIT, True)


@inline_kernel
def local_decay(s, p, upto, mode):
    """``decay_local`` when ``mode`` asks for it and the needs phase runs."""
    if upto > Phase.NEEDS and (mode & Run.PARALLEL) != 0:
        decay_local(s.agent_alive, s.agent_today, s.agent_needs, s.agent_habits, p.need_decay,
                    mode)


@kernel
def _tick(s, p, actions, use_actions, upto, mode):
    """``tick`` on the structs as given, the StructRefs themselves rather than borrowed
    views, with the turn loop compiled with reference counting (``counted_turns``):
    the reference the borrowed tick is checked against (tests/test_world_kernel_modes.py)."""
    t = world_phase(s, p)
    local_decay(s, p, upto, mode)
    alive, critical, saved = counted_turns(s, p, actions, use_actions, upto, mode, t, 0,
                                           s.agent_alive.shape[0])
    end_tick(s, p, t, upto, alive, critical, saved)
