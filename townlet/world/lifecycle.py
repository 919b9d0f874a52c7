"""Lifecycle: fainting, collapse from exhaustion, death by sustained starvation, exits,
removal and the arrival of newcomers with a starter kit."""

from __future__ import annotations

import numpy as np

from townlet.world.actions import Flag, G, Shift
from townlet.world.affordances import fail_running
from townlet.world.ahead import guard
from townlet.world.events import EventCode, Reason, emit
from townlet.world.geometry import outside_door
from townlet.world.jit import kernel
from townlet.world.jobs import drop_exit
from townlet.world.queues import leave_queue
from townlet.world.rng import LIFECYCLE, uniform
from townlet.world.routines import arrive_traits
from townlet.world.social import drop_ties, tile_link, tile_unlink
from townlet.world.state import Ctl, Ledger, Need, St

__all__ = ["arrive", "collapse", "drop_everything", "faint", "populate", "remove",
           "respawn_due", "vital_signs"]


@kernel
def drop_everything(s, p, i, t, reason):
    """Fail the running affordance (refunded) and leave any queue."""
    if s.agent_aff[i] >= 0:
        fail_running(s, p, i, t, reason)
    leave_queue(s, i, t)


@kernel
def faint(s, p, i, t):
    """Agent i faints: FAINTED until faint_ticks pass, drops what it holds; stat, event."""
    s.stats[St.FAINTS] += 1
    s.agent_flags[i] |= Flag.FAINTED
    s.agent_faint_until[i] = t + p.faint_ticks
    drop_everything(s, p, i, t, Reason.FAINTED)
    emit(s, EventCode.AGENT_FAINTED, i, -1, -1, s.agent_needs[i, Need.HUNGER])


@kernel
def collapse(s, p, i, t):
    """Agent i, awake at energy 0 for ``neglect.exhausted_after`` ticks, falls asleep where it
    stands: it lies FAINTED for ``collapse_ticks``, dropping what it holds; stat, event."""
    s.stats[St.COLLAPSES] += 1
    s.agent_flags[i] |= Flag.FAINTED
    s.agent_faint_until[i] = t + p.collapse_ticks
    drop_everything(s, p, i, t, Reason.EXHAUSTED)
    emit(s, EventCode.AGENT_COLLAPSED, i, -1, -1, p.collapse_ticks)


@kernel
def _wake(s, p, i):
    """Agent i gets up after lying fainted; after a collapse it has slept on the spot
    (energy at least ``collapse_energy``, its exhaustion count restarts)."""
    s.agent_flags[i] &= ~np.uint8(Flag.FAINTED)
    if s.agent_neglect[i, Need.ENERGY] >= p.need_neglect[Need.ENERGY]:
        s.agent_needs[i, Need.ENERGY] = max(s.agent_needs[i, Need.ENERGY],
                                            np.float32(p.collapse_energy))
        s.agent_neglect[i, Need.ENERGY] = 0


@kernel
def remove(s, p, i, t, reason, respawn):
    """Take agent i out of the world; a newcomer arrives later if ``respawn``."""
    guard(s, i)
    drop_everything(s, p, i, t, Reason.REMOVED)
    drop_exit(s, i)
    tile_unlink(s, i)
    drop_ties(s, i)
    s.ledger[Ledger.DEPARTED] += s.agent_wallet[i]
    s.agent_wallet[i] = 0
    s.agent_alive[i] = 0
    s.agent_flags[i] = 0
    s.agent_meet_bld[i] = -1
    s.agent_respawn_at[i] = t + s.ctl[Ctl.RESPAWN_DELAY] if respawn else -1


@kernel
def arrive(s, p, i, t, x, y):
    """A newcomer takes slot i at (x, y) with the starter kit and a fresh history."""
    key = s.rng_key[LIFECYCLE]
    gen = s.agent_gen[i] + 1
    s.agent_gen[i] = gen
    s.agent_alive[i] = 1
    s.agent_born[i] = t
    s.agent_respawn_at[i] = -1
    s.agent_x[i], s.agent_y[i] = x, y
    tile_link(s, i)
    for n in range(s.agent_needs.shape[1]):
        s.agent_needs[i, n] = p.starter_need
    s.agent_wallet[i] = p.starter_wallet
    s.ledger[Ledger.STARTER_KITS] += p.starter_wallet
    s.agent_food[i] = p.starter_food
    s.agent_goal[i] = G.NONE
    s.agent_option[i] = 0
    s.agent_flags[i] = 0
    s.agent_shift[i] = Shift.PRE_SHIFT
    s.agent_shift_ticks[i, :] = 0
    s.agent_lateness[i] = 0
    s.agent_absences[i] = 0
    s.agent_attendance[i, :] = 1.0
    s.agent_wages_today[i] = 0
    s.agent_withheld[i] = 0
    s.agent_neglect[i, :] = 0
    s.agent_faint_until[i] = 0
    s.agent_cool_obj[i] = -1
    s.agent_meet_bld[i] = -1
    for trait in range(s.agent_personality.shape[1]):
        s.agent_personality[i, trait] = np.float32(
            2.0 * uniform(key, i * 4 + trait, gen) - 1.0)
    arrive_traits(s, p, i, gen, t)


@kernel
def respawn_due(s, p, i, t):
    """Bring a newcomer into empty slot i at its home's door when its time has come."""
    if s.agent_respawn_at[i] < 0 or t < s.agent_respawn_at[i]:
        return
    x, y = outside_door(s.agent_home[i], p.blocks_w)
    arrive(s, p, i, t, x, y)
    s.stats[St.RESPAWNS] += 1
    emit(s, EventCode.AGENT_RESPAWN, i, -1, -1, s.agent_gen[i])


@kernel
def vital_signs(s, p, i, t):
    """Starvation death (while mortality is on; the ticks at hunger 0 are counted with the
    other needs, townlet.world.neglect), fainting, waking up and collapse from exhaustion.
    Returns False if the agent can't act."""
    if s.agent_neglect[i, Need.HUNGER] >= p.death_after and s.ctl[Ctl.MORTALITY]:
        s.stats[St.DEATHS] += 1
        emit(s, EventCode.AGENT_DIED, i, -1, -1, Reason.STARVATION)
        remove(s, p, i, t, Reason.STARVATION, True)
        return False
    if s.agent_flags[i] & Flag.FAINTED:
        if t < s.agent_faint_until[i]:
            return False
        _wake(s, p, i)
        return True
    if s.agent_neglect[i, Need.ENERGY] >= p.need_neglect[Need.ENERGY]:
        collapse(s, p, i, t)
        return False
    awake_long_enough = t >= s.agent_faint_until[i] + p.faint_ticks
    a = s.agent_aff[i]  # a meal under way is not interrupted (it would fail and be refunded)
    eating = a >= 0 and p.aff_effect[a, Need.HUNGER] > 0
    if s.agent_needs[i, Need.HUNGER] <= p.need_crit[Need.HUNGER] * 0.5 and awake_long_enough and (
            not eating):
        faint(s, p, i, t)
        return False
    return True


@kernel
def populate(s, p, xs, ys, starting_wallet):
    """The first inhabitants: at home, with varied needs and the starting wallet."""
    key = s.rng_key[LIFECYCLE]
    for i in range(xs.shape[0]):
        arrive(s, p, i, 0, xs[i], ys[i])
        s.ledger[Ledger.STARTER_KITS] -= p.starter_wallet
        s.ledger[Ledger.INITIAL] += starting_wallet
        s.agent_wallet[i] = starting_wallet
        for n in range(s.agent_needs.shape[1]):
            s.agent_needs[i, n] = np.float32(0.55 + 0.45 * uniform(key, i, 1000 + n))
