"""The scripted behaviour policy and the navigation layer it shares with option
actions: choose a goal (needs with hysteresis, work, meetings, sleep at night,
shopping), pick a concrete object or place for it, and take one step or one
interaction toward it."""

from __future__ import annotations

import numpy as np

from townlet.config.money import to_minor
from townlet.world.actions import G, Goal, Shift
from townlet.world.affordances import failing_condition, object_usable, start, startable
from townlet.world.geometry import SLOTS, next_step, origin
from townlet.world.jit import kernel
from townlet.world.queues import leave_queue, request
from townlet.world.social import chat, is_rival, tile_link, tile_unlink, wants_chat
from townlet.world.state import Need, Price, Resv
from townlet.world.town import OBJ

__all__ = ["decide", "pursue", "step_to"]

REPICK = 16
"""A walking agent reconsiders which object to use every REPICK ticks."""
SHOP_RESERVE = to_minor(0.5)
"""Money an agent keeps besides the grocery price before it goes shopping (minor units)."""
GOAL_FOR_NEED = {Need.HUNGER: Goal.EAT, Need.HYGIENE: Goal.WASH, Need.ENERGY: Goal.SLEEP,
                 Need.SOCIAL: Goal.SOCIAL}
"""The goal that restores each need (a need without one fails here, at import)."""
GOAL_OF_NEED = np.array([GOAL_FOR_NEED[n] for n in Need], dtype=np.int64)
NEED_OF_GOAL = np.full(len(Goal), -1, dtype=np.int64)
NEED_OF_GOAL[list(GOAL_FOR_NEED.values())] = list(GOAL_FOR_NEED)


@kernel
def _in_shift(p, j, tod):
    """Whether time of day ``tod`` lies between job j's call and its end (reads only)."""
    begin = p.job_start[j] - p.arrival_buffer
    if begin >= 0:
        return begin <= tod < p.job_end[j]
    return tod >= begin + p.day or tod < p.job_end[j]


@kernel
def _sleep_fits(s, p, i, tod):
    """A full sleep ends before the agent must leave for work (or energy is critical)."""
    a = p.type_aff[OBJ.BED]
    j = s.agent_job[i]
    departure = p.job_call[j] - tod  # ticks until the call, modulo the day
    if departure < 0:
        departure += p.day
    return a >= 0 and (departure >= p.aff_duration[a]
                       or s.agent_needs[i, Need.ENERGY] < p.need_crit[Need.ENERGY])


@kernel
def _can_eat(s, p, i):
    """Food at home, or money for a cafe meal or for groceries (else: go earn some)."""
    cheapest = min(s.price_now[Price.CAFE_MEAL], s.price_now[Price.GROCERIES])
    return s.agent_food[i] > 0 or s.agent_wallet[i] >= cheapest


@kernel
def decide(s, p, i, t, tod):
    """The scripted goal for agent i this tick."""
    needs = s.agent_needs[i]
    goal = s.agent_goal[i]
    can_eat = _can_eat(s, p, i)
    if needs[Need.HUNGER] < p.need_crit[Need.HUNGER] * 2 and can_eat:
        return G.EAT
    in_shift = _in_shift(p, s.agent_job[i], tod)
    n = NEED_OF_GOAL[goal]
    if n >= 0 and needs[n] < p.need_sat[n] and not (goal == G.SOCIAL and in_shift) and not (
            goal == G.SLEEP and not _sleep_fits(s, p, i, tod)) and (goal != G.EAT or can_eat):
        return goal
    critical = False  # a critical bodily need (not social) comes before work and meetings
    for k in range(needs.shape[0]):
        critical |= k != Need.SOCIAL and needs[k] < p.need_crit[k]
    if in_shift and s.agent_shift[i] != Shift.ABSENT and not critical:
        return G.WORK
    if s.agent_meet_bld[i] >= 0 and t < s.agent_meet_until[i] and not critical:
        return G.MEET
    sleep_fits = _sleep_fits(s, p, i, tod)
    if (tod >= p.bedtime or tod < p.wake) and needs[Need.ENERGY] < 0.8 and sleep_fits:
        return G.SLEEP
    best, worst = -1, 1.0
    for k in range(needs.shape[0]):
        ratio = needs[k] / max(p.need_seek[k], 1e-6)
        if ratio < 1.0 and ratio < worst and (k != Need.ENERGY or sleep_fits) and (
                k != Need.HUNGER or can_eat):
            best, worst = k, ratio
    if best >= 0:
        return GOAL_OF_NEED[best]
    if s.agent_food[i] < 2 and s.agent_wallet[i] >= s.price_now[Price.GROCERIES] + SHOP_RESERVE:
        return G.SHOP
    return G.HOME


@kernel
def _pick_in(s, p, i, b, otype, t):
    """The object of type ``otype`` in building b that agent i could use now
    (usable, preconditions hold, affordable) with the shortest line, skipping
    objects a rival holds and one the agent is cooling down on; -1 if none."""
    a = p.type_aff[otype]
    if a < 0 or s.agent_wallet[i] < s.price_now[p.aff_price[a]]:
        return -1
    if s.agent_food[i] < p.aff_uses_food[a]:
        return -1
    best, best_len = -1, 1 << 30
    for o in range(b * SLOTS, b * SLOTS + SLOTS):
        if s.obj_type[o] != otype or not startable(s, p, i, o, a):
            continue
        if s.agent_cool_obj[i] == o and t < s.agent_cool_until[i]:
            continue
        h = s.obj_holder[o]
        if h >= 0 and h != i and is_rival(s, p, i, h):
            continue
        length = s.obj_q_len[o] + (1 if h >= 0 and h != i else 0)
        if length < best_len:
            best, best_len = o, length
    return best


@kernel
def _target_object(s, p, i, goal, t):
    """The object to use for ``goal``: meals at home, else at the cafe, else buy
    food; showers and beds at home; tills at the district grocer."""
    home, d = s.agent_home[i], s.agent_district[i]
    if goal == G.EAT:
        o = _pick_in(s, p, i, home, OBJ.FRIDGE, t)
        if o < 0:
            o = _pick_in(s, p, i, home, OBJ.STOVE, t)
        if o < 0:
            o = _pick_in(s, p, i, s.district_cafe[d], OBJ.COUNTER, t)
        if o < 0:
            o = _pick_in(s, p, i, s.district_grocer[d], OBJ.TILL, t)
        return o
    if goal == G.WASH:
        return _pick_in(s, p, i, home, OBJ.SHOWER, t)
    if goal == G.SLEEP:  # one's own bed only
        bed, a = s.agent_bed[i], p.type_aff[OBJ.BED]
        cooling = s.agent_cool_obj[i] == bed and t < s.agent_cool_until[i]
        return bed if a >= 0 and object_usable(s, p, bed, a) and not cooling else -1
    if goal == G.SHOP:
        return _pick_in(s, p, i, s.district_grocer[d], OBJ.TILL, t)
    return -1


@kernel
def _place(s, i, goal):
    """Building for a presence goal (work, socialising, meeting, home)."""
    if goal == G.WORK:
        return s.agent_work[i]
    if goal == G.SOCIAL:
        return s.district_cafe[s.agent_district[i]]
    if goal == G.MEET and s.agent_meet_bld[i] >= 0:
        return s.agent_meet_bld[i]
    return s.agent_home[i]


@kernel
def step_to(s, p, i, b, lx, ly):
    """One step toward local tile (lx, ly) of building b; True when already there."""
    dx, dy = next_step(s.agent_x[i], s.agent_y[i], b, lx, ly, p.blocks_w)
    if dx == 0 and dy == 0:
        return True
    tile_unlink(s, i)
    s.agent_x[i] += dx
    s.agent_y[i] += dy
    tile_link(s, i)
    return False


@kernel
def _use(s, p, i, o, t):
    """At object o's access tile: queue, start when granted, or wait."""
    if s.agent_resv[i] == Resv.NONE:
        return request(s, i, o, t) and s.agent_resv[i] == Resv.HOLDING and start(s, p, i, t)
    if s.agent_resv[i] == Resv.HOLDING:
        return start(s, p, i, t)
    a = p.type_aff[s.obj_type[o]]
    if failing_condition(s, p, i, o, a) >= 0 or s.obj_stock[o] < p.aff_uses_stock[a]:
        leave_queue(s, i, t)  # e.g. sold out while waiting: no point staying
    return False


@kernel
def pursue(s, p, i, goal, t):
    """Work toward ``goal`` for one tick. Returns True when the goal is reached
    (an affordance started, or the agent stands at the place)."""
    if goal == G.NONE:
        return True
    o = -1
    if goal == G.EAT or goal == G.WASH or goal == G.SLEEP or goal == G.SHOP:
        if s.agent_resv[i] != Resv.NONE:
            o = s.agent_obj[i]
        else:  # choose on the way, again every REPICK ticks (queues change)
            o = s.agent_dest[i]
            if o < 0 or (t + i) % REPICK == 0:
                o = _target_object(s, p, i, goal, t)
                s.agent_dest[i] = o
        if o < 0:
            return False
        ox, oy = origin(o // SLOTS, p.blocks_w)
        if step_to(s, p, i, o // SLOTS, s.obj_ax[o] - ox, s.obj_ay[o] - oy):
            s.agent_dest[i] = -1
            return _use(s, p, i, o, t)
        return False
    leave_queue(s, i, t)
    b = _place(s, i, goal)
    spot = i % 5 + 1
    if step_to(s, p, i, b, spot, 5 if goal != G.WORK else 3):
        eager = goal == G.SOCIAL or goal == G.MEET
        if wants_chat(s, p, i, t) or eager and wants_chat(s, p, i, t + p.day):
            chat(s, p, i, t, False)
        return True
    return False

