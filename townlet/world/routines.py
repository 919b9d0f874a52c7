"""Individual routines: traits drawn when an agent arrives (habits, a favourite cafe),
its place in its job's schedule (shift pattern, days off in a 7-day week) and each
day's plan (work day or not, when to set off, how long to stay, when to go to bed),
so the town has rush hours instead of one synchronous tick.

All draws come from the world stream, keyed by agent slot and generation (traits)
or by slot and day (the plan): O(1) per agent, no state beyond the agent's row.
"""

from __future__ import annotations

import numpy as np

from townlet.world.geometry import outside_door
from townlet.world.jit import inline_kernel, kernel
from townlet.world.rng import WORLD, uniform
from townlet.world.state import Habit, Need, Roster, Today

__all__ = ["arrive_traits", "decay_of", "haunt", "plan_day", "rate_of", "shift_start",
           "ticks_until", "wrap"]

WALK_SLACK = 24
"""Ticks added to the door-to-door distance for walking inside both buildings and
around blocks (navigation never takes longer than that, see geometry.next_step)."""
SALT_TRAIT = 0
SALT_DAY = 8
"""Per-slot salts of the world stream: traits use ``16 i + k`` with the generation,
the daily plan ``16 i + 8 + k`` with the day (disjoint, so draws never repeat)."""


@kernel
def _draw(s, i, k, b):
    """A uniform float from the world stream for salt k of agent i and counter b."""
    return uniform(s.rng_key[WORLD], i * 16 + k, b)


@inline_kernel
def shift_start(s, p, i):
    """Tick of day agent i's shift starts (its job's start shifted by its pattern)."""
    j = s.agent_job[i]
    return p.job_start[j] + s.agent_roster[i, Roster.PATTERN] * p.job_stagger[j]


@inline_kernel
def ticks_until(tod, target, day):
    """Ticks from time of day ``tod`` forward to ``target`` (0 .. day - 1; pure)."""
    d = target - tod
    return d + day if d < 0 else d


@inline_kernel
def wrap(v, day):
    """``v % day`` for ``day > 0`` without dividing (a division costs more than the few
    days' worth of steps a tick of day, shift start or offset is from [0, day); pure)."""
    while v < 0:
        v += day
    while v >= day:
        v -= day
    return v


@inline_kernel
def rate_of(need_decay, habits, i, n):
    """Decay of need n per tick of the agent in row i of ``habits`` (appetite and
    sociability scale theirs); takes arrays, so a parallel phase can call it."""
    d = need_decay[n]
    if n == Need.HUNGER:
        return d * habits[i, Habit.APPETITE]
    if n == Need.SOCIAL:
        return d * habits[i, Habit.SOCIABILITY]
    return d


@inline_kernel
def decay_of(s, p, i, n):
    """Agent i's decay of need n per tick (see ``rate_of``)."""
    return rate_of(p.need_decay, s.agent_habits, i, n)


@kernel
def arrive_traits(s, p, i, gen, t):
    """Draw the traits and roster of the agent arriving in slot i, then plan its day."""
    u = _draw(s, i, SALT_TRAIT, gen)
    s.agent_habits[i, Habit.CHRONOTYPE] = np.float32((2.0 * u - 1.0) * p.chrono_spread)
    u = _draw(s, i, SALT_TRAIT + 1, gen)
    s.agent_habits[i, Habit.APPETITE] = np.float32(
        p.appetite_lo + u * (p.appetite_hi - p.appetite_lo))
    u = _draw(s, i, SALT_TRAIT + 2, gen)
    s.agent_habits[i, Habit.SOCIABILITY] = np.float32(
        p.sociability_lo + u * (p.sociability_hi - p.sociability_lo))
    u = _draw(s, i, SALT_TRAIT + 3, gen)
    s.agent_habits[i, Habit.PUNCTUALITY] = np.float32(np.floor(
        p.punctuality_lo + u * (p.punctuality_hi - p.punctuality_lo + 1)))
    j = s.agent_job[i]
    u = _draw(s, i, SALT_TRAIT + 4, gen)
    s.agent_roster[i, Roster.PATTERN] = min(int(u * p.job_patterns[j]), p.job_patterns[j] - 1)
    u = _draw(s, i, SALT_TRAIT + 5, gen)
    s.agent_roster[i, Roster.WEEKEND] = min(int(u * p.week), p.week - 1)
    _draw_favourite(s, p, i, _draw(s, i, SALT_TRAIT + 6, gen))
    plan_day(s, p, i, t)


@kernel
def _door_distance(a, b, blocks_w):
    """Street distance between the doors of buildings a and b (pure)."""
    ax, ay = outside_door(a, blocks_w)
    bx, by = outside_door(b, blocks_w)
    return abs(ax - bx) + abs(ay - by)


@kernel
def _draw_favourite(s, p, i, u):
    """Agent i's favourite cafe: uniform (``u``) over its district's cafe and the cafes of
    the up to 8 neighbouring districts whose door is at most ``favourite_reach`` tiles
    further from its home than its own district's (O(1): 9 candidates)."""
    d, home = s.agent_district[i], s.agent_home[i]
    districts = s.district_cafe.shape[0]
    limit = _door_distance(home, s.district_cafe[d], p.blocks_w) + p.favourite_reach
    dx0, dy0 = d % p.districts_w, d // p.districts_w
    pick = -1
    for rounds in range(2):  # count the candidates, then take the drawn one
        seen = 0
        for k in range(9):
            x, y = dx0 + k % 3 - 1, dy0 + k // 3 - 1
            e = y * p.districts_w + x
            if x < 0 or y < 0 or x >= p.districts_w or e >= districts:
                continue
            if _door_distance(home, s.district_cafe[e], p.blocks_w) > limit:
                continue
            if rounds == 1 and seen == pick:
                s.agent_favourite[i] = s.district_cafe[e]
                return
            seen += 1
        pick = min(int(u * seen), seen - 1)


@inline_kernel
def haunt(s, p, i):
    """The cafe agent i seeks company at: its favourite while that is at most
    ``favourite_reach`` tiles further from where it stands than its district's cafe."""
    own = s.district_cafe[s.agent_district[i]]
    fav = s.agent_favourite[i]
    if fav < 0 or fav == own:
        return own
    x, y = s.agent_x[i], s.agent_y[i]
    fx, fy = outside_door(fav, p.blocks_w)
    ox, oy = outside_door(own, p.blocks_w)
    if abs(x - fx) + abs(y - fy) <= abs(x - ox) + abs(y - oy) + p.favourite_reach:
        return fav
    return own


@kernel
def _commute(s, p, i):
    """Upper bound on the ticks agent i walks from home to its workplace."""
    hx, hy = outside_door(s.agent_home[i], p.blocks_w)
    wx, wy = outside_door(s.agent_work[i], p.blocks_w)
    return abs(hx - wx) + abs(hy - wy) + WALK_SLACK


@kernel
def plan_day(s, p, i, t):
    """Today's plan for agent i (run at midnight and on arrival): whether it works
    (days off recur weekly), when it sets off and leaves work, and when its night
    starts (its chronotype, moved by today's draw, but early enough that a full
    sleep ends before it must set off)."""
    day = t // p.day
    weekday = (day - s.agent_roster[i, Roster.WEEKEND]) % p.week
    s.agent_today[i, Today.WORKS] = 1 if weekday >= p.days_off else 0
    start = shift_start(s, p, i)
    j = s.agent_job[i]
    spare = s.agent_habits[i, Habit.PUNCTUALITY] + _draw(s, i, SALT_DAY, day) * p.jitter
    leave = max(0, start - _commute(s, p, i) - int(spare))
    s.agent_today[i, Today.LEAVE] = leave
    end = start + p.job_end[j] - p.job_start[j]
    s.agent_today[i, Today.QUIT] = end + int(_draw(s, i, SALT_DAY + 1, day) * (p.overtime + 1))
    shift = (2.0 * _draw(s, i, SALT_DAY + 2, day) - 1.0) * p.jitter
    preferred = (p.bedtime + int(s.agent_habits[i, Habit.CHRONOTYPE] + shift)) % p.day
    # a full night and a morning (breakfast, shower) before setting off
    latest = (leave - p.night - 2 * p.errand - p.jitter) % p.day
    noon = p.day // 2  # compare evening times on a clock that starts at noon
    if ticks_until(noon, latest, p.day) < ticks_until(noon, preferred, p.day):
        preferred = latest
    s.agent_today[i, Today.BEDTIME] = preferred
