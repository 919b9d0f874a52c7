"""Reward terms (SPEC/learning.md §4), compiled, per agent and per tick.

For an agent alive before and after the tick, in this order:

1. ``survival``: ``rewards.survival``.
2. ``needs``: ``-sum_n w_n * (max(0, c - need_n) / c)^2`` over every need
   (``NEEDS``), c = ``needs_comfort`` (c = 1: the upstream quadratic deficit).
3. ``social`` (stage ``c1``): per successful chat this tick, for speaker and
   listener, ``(chat_base + coeff_trust * trust + coeff_fam * familiarity) * quality``
   with their own tie toward the partner, times their social deficit
   (1 - social need) if ``by_deficit``; nothing while a bodily need (any but
   social) is below ``need_floor``.
4. ``wage``: ``wage_rate * (wage earned - wage withheld this tick) / job wage``:
   incremental, never a cumulative balance.
5. ``punctuality``: once per shift, on the tick the agent first arrives at work:
   ``bonus * max(0, 1 - ticks late / punctuality_window)``.
6. Post-death window: within ``death_window`` ticks after a death or exit in the
   same slot (the lineage), a positive sum becomes 0.
7. Per-tick clip of the sum, then the per-episode clip of its running total
   (``clip_adjustment`` records both changes).
8. ``faint`` (the tick an agent faints) and ``terminal`` (death or exit) are
   added after clipping, so they always survive it.

The window *before* a death is applied to a rollout buffer by
:func:`apply_death_window` when trajectories are finalised.
"""

from __future__ import annotations

import collections

import numpy as np
from numba import njit

from townlet.config import TownletConfig
from townlet.config.money import to_minor
from townlet.config.world import NEEDS
from townlet.world.actions import Flag
from townlet.world.routines import shift_start
from townlet.world.state import Need

__all__ = ["COMPONENTS", "END_DEATH", "END_EXIT", "END_NONE", "END_REMOVED",
           "RewardStatics", "apply_death_window", "build_reward_statics"]

COMPONENTS = ("survival", "needs", "social", "wage", "punctuality", "clip_adjustment",
              "faint", "terminal", "total")
R = collections.namedtuple("Components", COMPONENTS)(*range(len(COMPONENTS)))
"""Column of each component in a reward row."""
END_NONE, END_DEATH, END_EXIT, END_REMOVED = 0, 1, 2, 3
"""How a slot's agent left: not at all, died, left town (job loss), removed otherwise."""
CAT_NONE, CAT_CHAT, CAT_DEATH, CAT_EXIT, CAT_REMOVED = 0, 1, 2, 3, 4
"""Event categories the reward engine reads (see ``build_reward_statics``)."""

RewardStatics = collections.namedtuple("RewardStatics", [
    "survival", "weights", "wage_rate", "punct_bonus", "punct_window", "faint_penalty",
    "death_penalty", "exit_penalty", "social_on", "chat_base", "coeff_trust", "coeff_fam",
    "need_floor", "by_deficit", "comfort", "clip_tick", "clip_episode", "death_window", "truncate", "ticks_per_day",
    "job_start", "job_stagger", "job_wage", "cooldown", "event_category",
])


def build_reward_statics(cfg: TownletConfig, event_category: np.ndarray) -> RewardStatics:
    """Reward constants; ``event_category[code]`` is a ``CAT_*`` value per event code."""
    r = cfg.rl.rewards
    w = r.needs
    return RewardStatics(
        survival=r.survival,
        weights=np.array([getattr(w, need) for need in NEEDS], dtype=np.float64),
        wage_rate=r.wage_rate, punct_bonus=r.punctuality_bonus,
        punct_window=float(r.punctuality_window), faint_penalty=r.faint_penalty,
        death_penalty=r.death_penalty, exit_penalty=r.exit_penalty,
        social_on=r.social.stage == "c1", chat_base=r.social.chat_base,
        coeff_trust=r.social.coeff_trust, coeff_fam=r.social.coeff_fam,
        need_floor=r.social.need_floor, by_deficit=r.social.by_deficit,
        comfort=r.needs_comfort, clip_tick=r.clip.per_tick,
        clip_episode=r.clip.per_episode, death_window=r.clip.death_window,
        truncate=cfg.rl.truncate_ticks, ticks_per_day=cfg.world.ticks_per_day,
        job_start=np.array([j.start for j in cfg.world.jobs], dtype=np.int64),
        job_stagger=np.array([j.stagger_ticks for j in cfg.world.jobs], dtype=np.int64),
        job_wage=np.array([to_minor(j.wage) for j in cfg.world.jobs], dtype=np.int64),
        cooldown=cfg.rl.embeddings.cooldown_ticks,
        event_category=np.ascontiguousarray(event_category, dtype=np.int8),
    )


@njit(cache=True, inline="always")
def _chat_reward(st, rs, a, b, quality):
    """Agent a's reward for a successful chat with b (0 below the need floor)."""
    for n in range(st.agent_needs.shape[1]):
        if n != Need.SOCIAL and st.agent_needs[a, n] < rs.need_floor:
            return 0.0
    trust = fam = 0.0
    for k in range(st.rel_other.shape[1]):
        if st.rel_other[a, k] == b:
            trust, fam = st.rel_trust[a, k], st.rel_fam[a, k]
            break
    q = min(1.0, max(0.0, quality))
    if rs.by_deficit:
        q *= 1.0 - st.agent_needs[a, Need.SOCIAL]
    return (rs.chat_base + rs.coeff_trust * trust + rs.coeff_fam * fam) * q


@njit(cache=True, inline="always")
def scan_events(st, rs, comp, end_kind):
    """Social rewards into ``comp[:, social]`` and how agents left into ``end_kind``."""
    cats = rs.event_category
    for e in range(st.evt_len[0]):
        code = st.evt_code[e]
        cat = cats[code] if 0 <= code < cats.shape[0] else CAT_NONE
        a, b = st.evt_agent[e], st.evt_other[e]
        if cat == CAT_CHAT and rs.social_on and a >= 0 and b >= 0:
            q = st.evt_value[e]
            comp[a, R.social] += _chat_reward(st, rs, a, b, q)
            comp[b, R.social] += _chat_reward(st, rs, b, a, q)
        elif a >= 0 and cat == CAT_DEATH:
            end_kind[a] = END_DEATH
        elif a >= 0 and cat == CAT_EXIT:
            end_kind[a] = END_EXIT
        elif a >= 0 and cat == CAT_REMOVED:
            end_kind[a] = END_REMOVED


@njit(cache=True, inline="always")
def living_reward(st, rs, i, tick, prev_flags, prev_wages, prev_withheld, end_tick,
                  ep_total, c):
    """Components of agent i's reward into row ``c``; returns the new episode total."""
    c[R.survival] = rs.survival
    pen = 0.0
    for n in range(st.agent_needs.shape[1]):
        d = max(0.0, rs.comfort - st.agent_needs[i, n]) / rs.comfort
        pen += rs.weights[n] * d * d
    c[R.needs] = -pen
    job = st.agent_job[i]
    earned = st.agent_wages_today[i] - prev_wages
    if earned < 0:  # the daily counter was reset during this tick
        earned = st.agent_wages_today[i]
    withheld = max(0, st.agent_withheld[i] - prev_withheld)  # minor units, as job_wage
    wage = rs.job_wage[job]
    c[R.wage] = rs.wage_rate * (earned - withheld) / wage if wage > 0.0 else 0.0
    flags = st.agent_flags[i]
    c[R.punctuality] = 0.0
    if flags & Flag.ARRIVED and not prev_flags & Flag.ARRIVED:
        D = rs.ticks_per_day
        late = (tick % D) - shift_start(st, rs, i)  # the agent's own shift pattern
        if late > D // 2:
            late -= D
        elif late <= -(D // 2):
            late += D
        late = max(0, late)
        c[R.punctuality] = rs.punct_bonus * max(0.0, 1.0 - late / rs.punct_window)
    base = c[R.survival] + c[R.needs] + c[R.social] + c[R.wage] + c[R.punctuality]
    raw = base
    if base > 0.0 and tick - end_tick <= rs.death_window:
        base = 0.0
    base = min(rs.clip_tick, max(-rs.clip_tick, base))
    if rs.clip_episode > 0.0:
        total = min(rs.clip_episode, max(-rs.clip_episode, ep_total + base))
        base = total - ep_total
        ep_total = total
    else:
        ep_total += base
    c[R.clip_adjustment] = base - raw
    fainted = flags & Flag.FAINTED and not prev_flags & Flag.FAINTED
    c[R.faint] = rs.faint_penalty if fainted else 0.0
    c[R.terminal] = 0.0
    c[R.total] = base + c[R.faint]
    return ep_total


@njit(cache=True, inline="always")
def terminal_reward(rs, kind, prev_flags, c):
    """Row ``c`` for the tick an agent left; returns the kind actually used."""
    if kind == END_NONE:  # no event named the reason: a pending exit, else a death
        kind = END_EXIT if prev_flags & Flag.EXIT_PENDING else END_DEATH
    for k in range(c.shape[0]):
        c[k] = 0.0
    if kind == END_DEATH:
        c[R.terminal] = rs.death_penalty
    elif kind == END_EXIT:
        c[R.terminal] = rs.exit_penalty
    c[R.total] = c[R.terminal]
    return kind


@njit(cache=True)
def apply_death_window(rewards, end_kind, window):
    """Zero positive rewards in the ``window`` rows before each death or exit.

    ``rewards`` and ``end_kind`` are (T, N) rollout buffers (row t = the
    transition of step t); the walk back stops at an earlier end in the same
    column (a previous agent of that slot). Returns how many rewards changed.
    """
    changed = 0
    T, N = rewards.shape
    for i in range(N):
        for t in range(T):
            k = end_kind[t, i]
            if k != END_DEATH and k != END_EXIT:
                continue
            for u in range(t - 1, max(-1, t - 1 - window), -1):
                if end_kind[u, i] != END_NONE:
                    break
                if rewards[u, i] > 0:
                    rewards[u, i] = 0
                    changed += 1
    return changed
