"""The scripted behaviour policy and the navigation layer it shares with option
actions: choose a goal (needs with hysteresis, work, meetings, sleep at night,
shopping), pick a concrete object or place for it, and take one step or one
interaction toward it."""

from __future__ import annotations

import numpy as np

from townlet.config.money import to_minor
from townlet.world.actions import G, Goal, Shift
from townlet.world.affordances import failing_condition, object_usable, start, startable
from townlet.world.geometry import SLOTS, next_step, origin, outside_door
from townlet.world.jit import inline_kernel, kernel
from townlet.world.queues import leave_queue, request
from townlet.world.routines import decay_of, haunt, shift_start, ticks_until
from townlet.world.shops import marked_up
from townlet.world.social import chat, is_rival, tile_link, tile_unlink, wants_chat
from townlet.world.state import N_NEEDS, Need, Price, Resv, Today
from townlet.world.town import OBJ

__all__ = ["decide", "pursue", "step_to", "wakes_up"]

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


@inline_kernel
def _in_shift(s, i, tod):
    """Whether agent i is due at work now: a work day, between setting off and quitting."""
    return s.agent_today[i, Today.WORKS] != 0 and (
        s.agent_today[i, Today.LEAVE] <= tod < s.agent_today[i, Today.QUIT])


@inline_kernel
def _free_for(s, p, i, tod):
    """Ticks until agent i must set off for work (a day if it does not work today)."""
    if not s.agent_today[i, Today.WORKS] or tod >= s.agent_today[i, Today.LEAVE]:
        return p.day
    return s.agent_today[i, Today.LEAVE] - tod


@inline_kernel
def _sleep_fits(s, p, i, tod):
    """A full sleep ends before the agent must set off for work (or energy is critical)."""
    a = p.type_aff[OBJ.BED]
    return a >= 0 and (ticks_until(tod, s.agent_today[i, Today.LEAVE], p.day) >= p.aff_duration[a]
                       or s.agent_needs[i, Need.ENERGY] < p.need_crit[Need.ENERGY])


@inline_kernel
def _at_night(s, p, i, tod):
    """Whether it is agent i's night (from its bedtime for one sleep's length)."""
    return ticks_until(s.agent_today[i, Today.BEDTIME], tod, p.day) < p.night


@inline_kernel
def _can_eat(s, p, i):
    """Food at home, or money for a meal at its district's cafe or for groceries at its
    grocer (else: go earn some)."""
    if s.agent_food[i] > 0:
        return True
    d = s.agent_district[i]
    return s.agent_wallet[i] >= min(marked_up(s, Price.CAFE_MEAL, s.district_cafe[d]),
                                    marked_up(s, Price.GROCERIES, s.district_grocer[d]))


@inline_kernel
def _can_wash(s, p, i):
    """Money for a shower (a broke agent does not stand waiting to wash: it sleeps, works)."""
    a = p.type_aff[OBJ.SHOWER]
    return a >= 0 and s.agent_wallet[i] >= s.price_now[p.aff_price[a]]


@inline_kernel
def _sated(s, p, i):
    """Hunger is at or above the eat-now level (``_lasts`` for 0 ticks, without
    reading the agent's decay rate: 0 x a finite rate is 0)."""
    return s.agent_needs[i, Need.HUNGER] >= p.need_crit[Need.HUNGER] * 2


@inline_kernel
def _lasts(s, p, i, ticks):
    """Hunger stays above the eat-now level (twice critical) for ``ticks`` more ticks."""
    hunger = s.agent_needs[i, Need.HUNGER] - ticks * decay_of(s, p, i, Need.HUNGER)
    return hunger >= p.need_crit[Need.HUNGER] * 2


@inline_kernel
def wakes_up(s, p, i):
    """A scripted sleeper whose hunger reaches the eat-now level while it can eat
    wakes up (the sleep fails, refunded as any failure): it would otherwise faint."""
    a = p.type_aff[OBJ.BED]
    return a >= 0 and s.agent_aff[i] == a and not _sated(s, p, i) and _can_eat(s, p, i)


@inline_kernel
def decide(s, p, i, t, tod):
    """The scripted goal for agent i this tick; a snack first if hunger would not
    last a night's sleep (it would wake the sleeper, and an interrupted sleep
    restores nothing)."""
    goal = _decide(s, p, i, t, tod)
    if goal == G.SLEEP and _can_eat(s, p, i) and not _lasts(s, p, i, p.night):
        return G.EAT
    return goal


@inline_kernel
def _decide(s, p, i, t, tod):
    """The scripted goal for agent i this tick, before the bedtime snack (no row view of
    the needs: its runtime length kept the loop below from unrolling)."""
    needs = s.agent_needs
    goal = s.agent_goal[i]
    can_eat = _can_eat(s, p, i)
    if not _sated(s, p, i) and can_eat:
        return G.EAT
    # exhaustion comes before work and meetings (hunger did above; hygiene and
    # social wait for the evening)
    critical = needs[i, Need.ENERGY] < p.need_crit[Need.ENERGY]
    if _in_shift(s, i, tod) and s.agent_shift[i] != Shift.ABSENT and not critical:
        if can_eat and needs[i, Need.HUNGER] < p.need_seek[Need.HUNGER] and tod >= shift_start(
                s, p, i) and not _lasts(s, p, i, s.agent_today[i, Today.QUIT] - tod + 3 * p.errand):
            return G.EAT  # lunch: hunger would not last until after work
        return G.WORK  # before finishing any errand: breakfast never makes one late
    if critical:  # exhausted: sleep before any other errand (it would collapse on the way)
        return G.SLEEP
    errands = _free_for(s, p, i, tod) > p.errand  # an errand started now ends before leaving
    night = _at_night(s, p, i, tod)  # nobody to chat with: no socialising at night
    n = NEED_OF_GOAL[goal]
    if n >= 0 and needs[i, n] < p.need_sat[n] and (errands or goal == G.SLEEP) and not (
            goal == G.SLEEP and not _sleep_fits(s, p, i, tod)) and (goal != G.EAT or can_eat) and (
            goal != G.SOCIAL or not night) and (goal != G.WASH or _can_wash(s, p, i)):
        return goal
    sleep_fits = _sleep_fits(s, p, i, tod)
    bedtime = night and needs[i, Need.ENERGY] < 0.8 and sleep_fits
    if s.agent_meet_bld[i] >= 0 and t < s.agent_meet_until[i] and not critical and not (
            bedtime and ticks_until(tod, s.agent_today[i, Today.LEAVE], p.day) < p.night
            + _walk(s, p, i, s.agent_home[i]) + p.errand):
        return G.MEET  # until it must walk home for a full sleep before work
    if bedtime:
        return G.SLEEP
    if errands and can_eat and _free_for(s, p, i, tod) < 3 * p.errand and not _lasts(
            s, p, i, s.agent_today[i, Today.QUIT] - tod):
        return G.EAT  # breakfast, while there is time: hunger would not last the shift
    best, worst = -1, 1.0
    for k in range(N_NEEDS):
        seek = max(p.need_seek[k], 1e-6)
        if not needs[i, k] < seek:  # ratio >= 1: skip the division
            continue
        ratio = needs[i, k] / seek
        if ratio < 1.0 and ratio < worst and (k != Need.ENERGY or sleep_fits) and (
                k != Need.HUNGER or can_eat) and (errands or needs[i, k] < p.need_crit[k]) and (
                k != Need.SOCIAL or not night) and (k != Need.HYGIENE or _can_wash(s, p, i)):
            best, worst = k, ratio
    if best >= 0:
        return GOAL_OF_NEED[best]
    grocer = s.district_grocer[s.agent_district[i]]
    if errands and s.agent_food[i] < 2 and (
            s.agent_wallet[i] >= marked_up(s, Price.GROCERIES, grocer) + SHOP_RESERVE):
        return G.SHOP
    return G.HOME


@kernel
def _pick_in(s, p, i, b, otype, t):
    """The object of type ``otype`` in building b that agent i could use now
    (usable, preconditions hold, affordable) with the shortest line, skipping
    objects a rival holds and one the agent is cooling down on; -1 if none."""
    a = p.type_aff[otype]
    if a < 0 or s.agent_wallet[i] < marked_up(s, p.aff_price[a], b):
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
def _next_district(p, d, n):
    """A district next to d of the n (east, else west, south, north); d if it is alone."""
    col = d % p.districts_w
    if col + 1 < p.districts_w and d + 1 < n:
        return d + 1
    if col > 0:
        return d - 1
    if d + p.districts_w < n:
        return d + p.districts_w
    return d - p.districts_w if d >= p.districts_w else d


@kernel
def _shop_object(s, p, i, shops, otype, t):
    """An object of type ``otype`` agent i could use now at its district's shop
    (``shops``: district_grocer or district_cafe), else at the next district's (its own
    is sold out, say); -1 if neither has one."""
    d = s.agent_district[i]
    o = _pick_in(s, p, i, shops[d], otype, t)
    if o < 0:
        o = _pick_in(s, p, i, shops[_next_district(p, d, shops.shape[0])], otype, t)
    return o


@kernel
def _walk(s, p, i, b):
    """Street distance from agent i to building b's door (O(1), a lower bound)."""
    x, y = outside_door(b, p.blocks_w)
    return abs(s.agent_x[i] - x) + abs(s.agent_y[i] - y)


@kernel
def _wait(s, p, i, o):
    """Ticks agent i would wait in object o's line (users ahead x duration)."""
    ahead = s.obj_q_len[o] + (1 if s.obj_holder[o] >= 0 and s.obj_holder[o] != i else 0)
    return ahead * p.aff_duration[p.type_aff[s.obj_type[o]]]


@kernel
def _ticks_of(s, p, i, money):
    """``money`` as ticks of agent i's work (its wage per tick): what a price is worth
    in time to it; 0 when hunger is urgent (then only time counts)."""
    if not _sated(s, p, i):
        return 0
    return money // max(1, p.job_wage[s.agent_job[i]])


@kernel
def _back(s, p, i, b, tod):
    """Street distance from building b back to agent i's workplace when it is due at work
    (0 otherwise, and from the workplace itself): what eating away costs a worker."""
    if not _in_shift(s, i, tod) or b == s.agent_work[i]:
        return 0
    bx, by = outside_door(b, p.blocks_w)
    wx, wy = outside_door(s.agent_work[i], p.blocks_w)
    return abs(bx - wx) + abs(by - wy)


@kernel
def _away(s, p, i, b, tod):
    """Street distance agent i walks to building b and back to work (``_back``)."""
    return _walk(s, p, i, b) + _back(s, p, i, b, tod)


@kernel
def _meal_object(s, p, i, t):
    """The cheapest affordable way to eat, counting walk (and, in a shift, the walk back
    to work: its own workplace counts), wait in line (users ahead x duration) and price
    in ticks of the agent's wage: its home fridge or stove (with food), the district cafe
    (its baristas' workplace), or the district grocer (a meal's share of the groceries)
    and the walk home — the next district's cafe or grocer when its own cannot serve, each
    at the price that shop charges; -1 if none is usable now."""
    home = s.agent_home[i]
    tod = t % p.day
    best, best_cost = -1, 1 << 62
    if s.agent_food[i] > 0:
        for otype in (OBJ.FRIDGE, OBJ.STOVE):
            o = _pick_in(s, p, i, home, otype, t)
            if o >= 0 and _away(s, p, i, home, tod) + _wait(s, p, i, o) < best_cost:
                best, best_cost = o, _away(s, p, i, home, tod) + _wait(s, p, i, o)
    o = _shop_object(s, p, i, s.district_cafe, OBJ.COUNTER, t)
    if o >= 0:
        cafe = o // SLOTS
        cost = _away(s, p, i, cafe, tod) + _wait(s, p, i, o) + _ticks_of(
            s, p, i, marked_up(s, Price.CAFE_MEAL, cafe))
        if cost < best_cost:
            best, best_cost = o, cost
    if s.agent_food[i] == 0:
        o = _shop_object(s, p, i, s.district_grocer, OBJ.TILL, t)
        if o >= 0:
            grocer = o // SLOTS
            gx, gy = outside_door(grocer, p.blocks_w)
            hx, hy = outside_door(home, p.blocks_w)
            meals = max(1, p.aff_food[p.type_aff[OBJ.TILL]])
            cost = _walk(s, p, i, grocer) + _wait(s, p, i, o) + abs(gx - hx) + abs(
                gy - hy) + _back(s, p, i, home, tod) + _ticks_of(
                s, p, i, marked_up(s, Price.GROCERIES, grocer) // meals)
            if cost < best_cost:
                best = o
    return best


@kernel
def _target_object(s, p, i, goal, t):
    """The object to use for ``goal``: the nearest affordable meal; showers and
    beds at home; tills at the district grocer (the next district's if it cannot serve)."""
    home = s.agent_home[i]
    if goal == G.EAT:
        return _meal_object(s, p, i, t)
    if goal == G.WASH:
        return _pick_in(s, p, i, home, OBJ.SHOWER, t)
    if goal == G.SLEEP:  # one's own bed only
        bed, a = s.agent_bed[i], p.type_aff[OBJ.BED]
        cooling = s.agent_cool_obj[i] == bed and t < s.agent_cool_until[i]
        return bed if a >= 0 and object_usable(s, p, bed, a) and not cooling else -1
    if goal == G.SHOP:
        return _shop_object(s, p, i, s.district_grocer, OBJ.TILL, t)
    return -1


@inline_kernel
def _place(s, p, i, goal):
    """Building for a presence goal (work, socialising at its favourite cafe when not far,
    meeting, home)."""
    if goal == G.WORK:
        return s.agent_work[i]
    if goal == G.SOCIAL:
        return haunt(s, p, i)
    if goal == G.MEET and s.agent_meet_bld[i] >= 0:
        return s.agent_meet_bld[i]
    return s.agent_home[i]


@inline_kernel
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


@inline_kernel
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
    b = _place(s, p, i, goal)
    spot = i % 5 + 1
    if step_to(s, p, i, b, spot, 5 if goal != G.WORK else 3):
        eager = goal == G.SOCIAL or goal == G.MEET
        if wants_chat(s, p, i, t) or eager and wants_chat(s, p, i, t + p.day):
            chat(s, p, i, t, False)
        return True
    return False

