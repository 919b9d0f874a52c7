"""Compiled observation encoder: every agent's features, egocentric map and
embedding ids in one pass, written into preallocated arrays.

The feature order is the one declared in ``townlet.rl.layout`` (self block,
one-hot of the running affordance, landmarks, window summary, social) (tests compare
this kernel against a slow, name-keyed reference). Empty slots get zeros and
ids of -1. The egocentric map is ``townlet.rl.window``'s.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from townlet.config.money import MINOR_PER_UNIT
from townlet.rl.layout import (
    GOAL_FEATURES,
    LANDMARK,
    LANDMARK_FIELDS,
    LAST_ACTION_FEATURES,
    NEED_FEATURES,
    PERSONALITY_FEATURES,
    PRICE_FEATURES,
    SELF,
    SELF_FEATURES,
    SHIFT_FEATURES,
    SOCIAL_AGGREGATE,
    SOCIAL_SLOT,
    SOCIAL_SLOT_FIELDS,
)
from townlet.rl.window import map_pass
from townlet.world.actions import Flag
from townlet.world.geometry import (
    CENTER_LX,
    CENTER_LY,
    building_of,
    next_step,
    origin,
)
from townlet.world.routines import shift_start
from townlet.world.state import Resv

__all__ = ["encode"]

# start of each code-indexed group of the self block (see townlet.rl.layout)
O_NEED, O_SHIFT, O_GOAL, O_LAST, O_TRAIT, O_PRICE = (SELF_FEATURES.index(group[0]) for group in (
    NEED_FEATURES, SHIFT_FEATURES, GOAL_FEATURES, LAST_ACTION_FEATURES, PERSONALITY_FEATURES,
    PRICE_FEATURES))
N_SHIFT, N_GOAL, N_LAST = len(SHIFT_FEATURES), len(GOAL_FEATURES), len(LAST_ACTION_FEATURES)
N_LANDMARK = len(LANDMARK_FIELDS)
N_SOCIAL_SLOT = len(SOCIAL_SLOT_FIELDS)
N_SOCIAL_AGGREGATE = len(SOCIAL_AGGREGATE)


@njit(cache=True)
def _squash(x, scale):
    return x / (x + scale) if x > 0.0 else 0.0


@njit(cache=True, inline="always")
def _wrap(d, D):
    """``d % D`` (``D`` > 0, Python's sign rule) without a division when ``d`` is within
    one period of [0, D): the per-agent times of day below are, and an integer
    division costs more than the rest of their arithmetic."""
    if d >= D:
        d -= D
    elif d < 0:
        d += D
    return d if 0 <= d < D else d % D


@njit(cache=True)
def _prices(st):
    """Every price but "none" (column 0): current / base, capped at 4, / 4."""
    prices = np.zeros(st.price_base.shape[0] - 1)
    for k in range(prices.shape[0]):
        base = st.price_base[k + 1]
        prices[k] = min(st.price_now[k + 1] / base, 4.0) / 4.0 if base > 0.0 else 0.0
    return prices


@njit(cache=True, inline="always")
def _self_features(st, sx, kp, tick, tod, sin_t, cos_t, prices, emb_of, ep_len, ctx_reset, i,
                   f):
    """The self block and the running-affordance one-hot of living agent i into row f
    (every feature of both blocks is written: the code-indexed groups are cleared first)."""
    for k in range(N_SHIFT):
        f[O_SHIFT + k] = 0.0
    for k in range(N_GOAL):
        f[O_GOAL + k] = 0.0
    for k in range(N_LAST):
        f[O_LAST + k] = 0.0
    for k in range(sx.o_affordance, sx.o_landmarks):
        f[k] = 0.0
    f[SELF.aff_running] = 0.0
    f[SELF.aff_progress] = 0.0
    D = sx.ticks_per_day
    K = st.rel_other.shape[1]
    W = st.agent_attendance.shape[1]
    for n in range(st.agent_needs.shape[1]):
        f[O_NEED + n] = st.agent_needs[i, n]
    f[SELF.wallet] = _squash(st.agent_wallet[i] / MINOR_PER_UNIT, sx.wallet_scale)
    f[SELF.food] = _squash(float(st.agent_food[i]), sx.count_scale)
    f[SELF.time_sin] = sin_t
    f[SELF.time_cos] = cos_t
    flags = st.agent_flags[i]
    f[SELF.on_shift] = 1.0 if flags & Flag.ON_SHIFT else 0.0
    shift = st.agent_shift[i]
    if shift < N_SHIFT:
        f[O_SHIFT + shift] = 1.0
    job = st.agent_job[i]
    start = shift_start(st, kp, i)
    f[SELF.shift_start_in] = _wrap(start - tod, D) / D
    f[SELF.shift_end_in] = _wrap(start + kp.job_end[job] - kp.job_start[job] - tod, D) / D
    att = 0.0
    for w in range(W):
        att += st.agent_attendance[i, w]
    f[SELF.attendance_ratio] = att / W
    f[SELF.lateness] = _squash(float(st.agent_lateness[i]), sx.count_scale)
    f[SELF.wages_today] = _squash(st.agent_wages_today[i] / MINOR_PER_UNIT, sx.money_scale)
    f[SELF.wages_withheld] = _squash(st.agent_withheld[i] / MINOR_PER_UNIT, sx.money_scale)
    f[SELF.embedding_slot_norm] = emb_of[i] / sx.max_slots if emb_of[i] >= 0 else 0.0
    f[SELF.ctx_reset] = float(ctx_reset[i])
    f[SELF.episode_progress] = _wrap(ep_len[i], D) / D
    f[SELF.age_days] = _squash((tick - st.agent_born[i]) / D, 7.0)
    f[SELF.fainted] = 1.0 if flags & Flag.FAINTED else 0.0
    f[SELF.possessed] = 1.0 if flags & Flag.POSSESSED else 0.0
    f[SELF.exit_pending] = 1.0 if flags & Flag.EXIT_PENDING else 0.0
    f[SELF.option_active] = 1.0 if st.agent_option[i] else 0.0
    goal = st.agent_goal[i]
    if 0 <= goal < N_GOAL:
        f[O_GOAL + goal] = 1.0
    act = st.agent_action[i]
    if 0 <= act < N_LAST:
        f[O_LAST + act] = 1.0
    f[SELF.last_action_ok] = 1.0 if st.agent_action_ok[i] else 0.0
    f[SELF.reservation_active] = 1.0 if st.agent_resv[i] == Resv.HOLDING else 0.0
    f[SELF.in_queue] = 1.0 if st.agent_resv[i] == Resv.WAITING else 0.0
    aff = st.agent_aff[i]
    if aff >= 0:
        f[sx.o_affordance + aff] = 1.0
        f[SELF.aff_running] = 1.0
        left = (st.agent_aff_end[i] - tick) / kp.aff_duration[aff]
        f[SELF.aff_progress] = min(1.0, max(0.0, 1.0 - left))
    for p in range(st.agent_personality.shape[1]):
        f[O_TRAIT + p] = st.agent_personality[i, p]
    d = st.agent_district[i]
    f[SELF.power_on] = float(st.district_power[d])
    f[SELF.water_on] = float(st.district_water[d])
    for k in range(prices.shape[0]):
        f[O_PRICE + k] = prices[k]
    riv_max = 0.0
    avoid = 0
    for k in range(K):
        if st.rel_other[i, k] >= 0:
            r = st.rel_riv[i, k]
            riv_max = max(riv_max, r)
            if r >= sx.avoid_threshold:
                avoid += 1
    f[SELF.rivalry_max] = riv_max
    f[SELF.rivalry_avoid_frac] = avoid / K
    f[SELF.meet_active] = (1.0 if st.agent_meet_bld[i] >= 0 and tick < st.agent_meet_until[i]
                           else 0.0)


@njit(cache=True)
def _landmark(bw, scale, x, y, b, f, o):
    """Direction, distance, inside flag and next-step hint toward building b's centre."""
    ox, oy = origin(b, bw)
    dx, dy = ox + CENTER_LX - x, oy + CENTER_LY - y
    dist = math.sqrt(dx * dx + dy * dy)
    f[o + LANDMARK.dx] = dx / dist if dist > 0 else 0.0
    f[o + LANDMARK.dy] = dy / dist if dist > 0 else 0.0
    f[o + LANDMARK.dist] = _squash(dist, scale)
    f[o + LANDMARK.inside] = 1.0 if building_of(x, y, bw) == b else 0.0
    sdx, sdy = next_step(x, y, b, CENTER_LX, CENTER_LY, bw)
    f[o + LANDMARK.step_n] = 1.0 if sdy < 0 else 0.0
    f[o + LANDMARK.step_e] = 1.0 if sdx > 0 else 0.0
    f[o + LANDMARK.step_s] = 1.0 if sdy > 0 else 0.0
    f[o + LANDMARK.step_w] = 1.0 if sdx < 0 else 0.0


@njit(cache=True, inline="always")
def _landmarks(st, sx, i, f, o, lm_key):
    """Landmark features of living agent i, recomputed and written into row f only
    when it moved (keyed by position per slot: home, work, grocer and cafe of a slot
    never change); otherwise row f still holds them from an earlier encode."""
    x, y = st.agent_x[i], st.agent_y[i]
    key = (np.int64(x) << 20) | np.int64(y)
    if lm_key[i] == key:
        return
    lm_key[i] = key
    bw, scale = sx.blocks_w, sx.distance_scale
    d = st.agent_district[i]
    # in LANDMARKS order: home, work, grocer, cafe
    _landmark(bw, scale, x, y, st.agent_home[i], f, o)
    _landmark(bw, scale, x, y, st.agent_work[i], f, o + N_LANDMARK)
    _landmark(bw, scale, x, y, st.district_grocer[d], f, o + 2 * N_LANDMARK)
    _landmark(bw, scale, x, y, st.district_cafe[d], f, o + 3 * N_LANDMARK)


@njit(cache=True, inline="always")
def _social(st, sx, emb_of, i, f, ids, o):
    """Top friends then top rivals among living agent i's ties, plus aggregates, into
    row f (and the partners' embedding slots into ids); slots left unfilled and, with
    none filled, the aggregates are zeroed (their ids -1)."""
    K = st.rel_other.shape[1]
    slots = sx.n_friends + sx.n_rivals
    friends = rivals = 0  # bit k: tie k can fill a friend / rival slot (value > 0)
    for k in range(K):
        if st.rel_other[i, k] >= 0:
            if st.rel_trust[i, k] + st.rel_fam[i, k] > 0.0:
                friends |= 1 << k
            if st.rel_riv[i, k] > 0.0:
                rivals |= 1 << k
    chosen = 0
    s = 0
    t_sum = t_max = r_sum = r_max = 0.0
    for want in range(slots):
        rival = want >= sx.n_friends
        left = (rivals if rival else friends) & ~chosen
        if left == 0:
            continue
        best, best_v = -1, 0.0
        for k in range(K):
            if not (left >> k) & 1:
                continue
            v = st.rel_riv[i, k] if rival else st.rel_trust[i, k] + st.rel_fam[i, k]
            if v > best_v:
                best, best_v = k, v
        chosen |= 1 << best
        other = st.rel_other[i, best]
        p = o + s * N_SOCIAL_SLOT
        trust, riv = st.rel_trust[i, best], st.rel_riv[i, best]
        f[p + SOCIAL_SLOT.filled] = 1.0
        f[p + SOCIAL_SLOT.trust] = trust
        f[p + SOCIAL_SLOT.familiarity] = st.rel_fam[i, best]
        f[p + SOCIAL_SLOT.rivalry] = riv
        dx = float(st.agent_x[other] - st.agent_x[i])
        dy = float(st.agent_y[other] - st.agent_y[i])
        f[p + SOCIAL_SLOT.dist] = _squash(math.sqrt(dx * dx + dy * dy), sx.distance_scale)
        f[p + SOCIAL_SLOT.visible] = (1.0 if abs(dx) <= sx.radius and abs(dy) <= sx.radius
                                      else 0.0)
        ids[1 + s] = emb_of[other]
        t_sum += trust
        r_sum += riv
        t_max = trust if s == 0 else max(t_max, trust)
        r_max = riv if s == 0 else max(r_max, riv)
        s += 1
    for k in range(o + s * N_SOCIAL_SLOT, o + slots * N_SOCIAL_SLOT):
        f[k] = 0.0
    for k in range(1 + s, 1 + slots):
        ids[k] = -1
    a = o + slots * N_SOCIAL_SLOT
    if s > 0:
        f[a + SOCIAL_AGGREGATE.social_trust_mean] = t_sum / s
        f[a + SOCIAL_AGGREGATE.social_trust_max] = t_max
        f[a + SOCIAL_AGGREGATE.social_rivalry_mean] = r_sum / s
        f[a + SOCIAL_AGGREGATE.social_rivalry_max] = r_max
    else:
        for k in range(N_SOCIAL_AGGREGATE):
            f[a + k] = 0.0


@njit(cache=True)
def encode(st, sx, kp, emb_of, ep_len, ctx_reset, out_map, out_feat, out_ids, lm_key, ws):
    """Encode every slot into ``out_map`` (N, C, W, W), ``out_feat`` (N, F) and
    ``out_ids`` (N, 1+S). ``kp`` is the world's KernelParams; ``lm_key``
    (N,) int64, initially -1, is the position each row's landmark block was drawn for; ``ws`` is the map's per-tick scratch
    (``townlet.rl.window.new_window_scratch``). After the maps, one loop writes each
    slot's feature row and ids while they are in cache: an empty slot's are zeroed
    (ids -1), a living slot's every block is written except landmarks that have not
    changed. Like ``ws``, ``lm_key`` belongs with one output array
    (a new array needs ``lm_key`` all -1)."""
    tick = st.clock[0]
    map_pass(st, kp, sx.map, ws, out_map)
    tod = tick % sx.ticks_per_day
    phase = 2.0 * math.pi * tod / sx.ticks_per_day
    sin_t, cos_t = math.sin(phase), math.cos(phase)
    prices = _prices(st)
    summary = ws.summary
    social = sx.n_friends + sx.n_rivals > 0
    for i in range(st.agent_alive.shape[0]):
        f, ids = out_feat[i], out_ids[i]
        if not st.agent_alive[i]:
            f[:] = 0.0
            ids[:] = -1
            lm_key[i] = -1
            continue
        ids[0] = emb_of[i]
        if ctx_reset[i]:
            lm_key[i] = -1  # maybe another agent in this slot: its own landmarks
        _self_features(st, sx, kp, tick, tod, sin_t, cos_t, prices, emb_of, ep_len, ctx_reset,
                       i, f)
        _landmarks(st, sx, i, f, sx.o_landmarks, lm_key)
        for k in range(summary.shape[1]):
            f[sx.o_summary + k] = summary[i, k]
        if social:
            _social(st, sx, emb_of, i, f, ids, sx.o_social)
