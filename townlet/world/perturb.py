"""Perturbations that change the world and restore it exactly afterwards.

- price_spike: ``price_now`` = ``price_base`` x the product of active spikes
  (recomputed from scratch, so it returns to the base bit for bit);
- blackout / outage: a district loses power / water; running affordances that
  need it fail gracefully (refund, event, reservation freed) and new ones are
  refused until it returns;
- arranged_meet: two agents of a district (the strongest rivals if any) walk
  to its cafe and stay there until the meeting ends.

Random scheduling draws from the events stream and scales with the town: the district
kinds (blackout, outage, arranged_meet) are drawn in every district independently, with
their probability per day, cooldowns, spacing and concurrency cap per district; price
spikes (the town's prices) are drawn town-wide. The table (``pert_slots``) holds the
scheduler's worst case plus slots for operators, so it never overflows; manual triggers
bypass the probabilities, cooldowns and concurrency cap.
"""

from __future__ import annotations

import numpy as np

from townlet.config.money import MINOR_PER_UNIT
from townlet.config.world import PERTURBATION_KINDS
from townlet.world.affordances import fail_running
from townlet.world.ahead import guard
from townlet.world.events import EventCode, Reason, emit
from townlet.world.geometry import SLOTS
from townlet.world.jit import kernel
from townlet.world.rng import EVENTS, next_uniform
from townlet.world.state import PertMeta

__all__ = ["activate", "end_slot", "reprice", "schedule_tick"]

PRICE_SPIKE = PERTURBATION_KINDS.index("price_spike")
BLACKOUT = PERTURBATION_KINDS.index("blackout")
OUTAGE = PERTURBATION_KINDS.index("outage")
MEET = PERTURBATION_KINDS.index("arranged_meet")


@kernel
def reprice(s):
    """Recompute price_now from price_base x the active spikes' magnitudes, rounded to
    whole minor units; one event per change."""
    for k in range(s.price_now.shape[0]):
        factor = 1.0
        for slot in range(s.pert_kind.shape[0]):
            target = s.pert_target[slot]
            if s.pert_kind[slot] == PRICE_SPIKE and (target == 0 or target == k):
                factor *= s.pert_mag[slot]
        price = np.int64(np.floor(s.price_base[k] * factor + 0.5))
        if price != s.price_now[k]:
            s.price_now[k] = price
            emit(s, EventCode.PRICE_CHANGE, -1, -1, k, price / MINOR_PER_UNIT)


@kernel
def _utilities(s, p, d):
    """Recompute district d's power and water from the active outages."""
    power, water = 1, 1
    for slot in range(s.pert_kind.shape[0]):
        if s.pert_target[slot] == d or s.pert_target[slot] == -1:
            if s.pert_kind[slot] == BLACKOUT:
                power = 0
            elif s.pert_kind[slot] == OUTAGE:
                water = 0
    s.district_power[d] = power
    s.district_water[d] = water


@kernel
def _cut(s, p, d, t):
    """Fail running affordances in district d that need a utility it no longer has."""
    _utilities(s, p, d)
    side, dw = p.district_side, p.districts_w
    bx0, by0 = (d % dw) * side, (d // dw) * side
    for by in range(by0, by0 + side):
        for bx in range(bx0, bx0 + side):
            b = by * p.blocks_w + bx
            for o in range(b * SLOTS, b * SLOTS + SLOTS):
                h = s.obj_holder[o]
                if h < 0 or s.agent_aff[h] < 0:
                    continue
                a = s.agent_aff[h]
                if (p.aff_power[a] and not s.district_power[d]) or (
                        p.aff_water[a] and not s.district_water[d]):
                    fail_running(s, p, h, t, Reason.OUTAGE)


@kernel
def _district_range(s, slot):
    """Districts a perturbation covers: (first, end) — one district, or all for -1."""
    d = s.pert_target[slot]
    if d >= 0:
        return d, d + 1
    return 0, s.district_power.shape[0]


@kernel
def _meet_pair(s, p, d, t):
    """The two agents of district d with the strongest rivalry (else a random pair)."""
    lo = d * p.residents_per_district
    hi = min(s.agent_alive.shape[0], lo + p.residents_per_district)
    best, a, b = np.float32(0.0), -1, -1
    for i in range(lo, hi):
        if not s.agent_alive[i]:
            continue
        for k in range(s.rel_other.shape[1]):
            j = s.rel_other[i, k]
            if j >= 0 and s.rel_riv[i, k] > best and s.agent_alive[j]:
                best, a, b = s.rel_riv[i, k], i, j
    if a < 0 and hi - lo >= 2:
        a = lo + int(next_uniform(s.rng_key, s.rng_counter, EVENTS) * (hi - lo))
        b = lo + int(next_uniform(s.rng_key, s.rng_counter, EVENTS) * (hi - lo - 1))
        b = b + 1 if b >= a else b
        if not (s.agent_alive[a] and s.agent_alive[b]):
            return -1, -1
    return a, b


@kernel
def activate(s, p, kind, spec, duration, magnitude, target, t):
    """Start a perturbation now; returns its event id, or -1 if no slot or no effect."""
    slot = -1
    for k in range(s.pert_kind.shape[0]):
        if s.pert_kind[k] < 0:
            slot = k
            break
    if slot < 0:
        return -1
    if kind == MEET:
        a, b = _meet_pair(s, p, target, t)
        if a < 0:
            return -1
        s.pert_agents[slot, 0], s.pert_agents[slot, 1] = a, b
        for i in (a, b):
            guard(s, i)
            s.agent_meet_bld[i] = s.district_cafe[target]
            s.agent_meet_until[i] = t + duration
        emit(s, EventCode.MEETING_ARRANGED, a, b, s.district_cafe[target], duration)
    eid = s.pert_meta[PertMeta.NEXT_ID]
    s.pert_meta[PertMeta.NEXT_ID] = eid + 1
    s.pert_kind[slot], s.pert_spec[slot], s.pert_id[slot] = kind, spec, eid
    s.pert_start[slot], s.pert_end[slot] = t, t + duration
    s.pert_target[slot], s.pert_mag[slot] = target, magnitude
    emit(s, EventCode.PERTURBATION_STARTED, -1, -1, eid, kind)
    if kind == PRICE_SPIKE:
        reprice(s)
    elif kind == BLACKOUT or kind == OUTAGE:
        first, end = _district_range(s, slot)
        for d in range(first, end):
            _cut(s, p, d, t)
    return eid


@kernel
def end_slot(s, p, slot, code):
    """End (or cancel) the perturbation in ``slot`` and restore what it changed."""
    kind = s.pert_kind[slot]
    emit(s, code, -1, -1, s.pert_id[slot], kind)
    first, end = _district_range(s, slot)
    s.pert_kind[slot] = -1
    if kind == PRICE_SPIKE:
        reprice(s)
    elif kind == BLACKOUT or kind == OUTAGE:
        for d in range(first, end):
            _utilities(s, p, d)
    else:
        for i in s.pert_agents[slot]:
            if i >= 0:
                guard(s, i)
                s.agent_meet_bld[i] = -1
        s.pert_agents[slot, 0], s.pert_agents[slot, 1] = -1, -1
    s.pert_target[slot] = -1
    s.pert_mag[slot] = 1.0


@kernel
def _crowded(s, p, kind, d):
    """Whether district d (-1: the town, for price spikes) already has ``max_concurrent``
    active perturbations of its sort (one pass over the table, only when a draw fires)."""
    n = 0
    for slot in range(s.pert_kind.shape[0]):
        k = s.pert_kind[slot]
        if k < 0:
            continue
        if d < 0:
            n += k == PRICE_SPIKE
        else:
            n += k != PRICE_SPIKE and (s.pert_target[slot] == d or s.pert_target[slot] == -1)
    return n >= p.max_concurrent


@kernel
def _maybe_start(s, p, spec, d, t):
    """The scheduler's draw for ``spec`` in district d (-1: a town-wide price spike):
    spacing, cooldown, probability per day, concurrency, then the event itself."""
    last = s.pert_meta[PertMeta.LAST_SCHEDULED] if d < 0 else s.pert_last[d]
    col = max(d, 0)
    if t - last < p.global_cooldown or t < s.pert_spec_cool[spec, col]:
        return
    if next_uniform(s.rng_key, s.rng_counter, EVENTS) >= p.spec_prob[spec] / p.day:
        return
    kind = p.spec_kind[spec]
    if _crowded(s, p, kind, d):
        return
    span = p.spec_dmax[spec] - p.spec_dmin[spec] + 1
    duration = p.spec_dmin[spec] + int(next_uniform(s.rng_key, s.rng_counter, EVENTS) * span)
    u = next_uniform(s.rng_key, s.rng_counter, EVENTS)
    magnitude = p.spec_mmin[spec] + u * (p.spec_mmax[spec] - p.spec_mmin[spec])
    target = p.spec_target[spec] if d < 0 else d
    if activate(s, p, kind, spec, duration, magnitude, target, t) >= 0:
        s.pert_spec_cool[spec, col] = t + duration + p.spec_cool[spec]
        if d < 0:
            s.pert_meta[PertMeta.LAST_SCHEDULED] = t
        else:
            s.pert_last[d] = t


@kernel
def schedule_tick(s, p, t):
    """End expired perturbations, then maybe start scheduled ones (events stream): price
    spikes town-wide, the district kinds in every district independently."""
    for slot in range(s.pert_kind.shape[0]):
        if s.pert_kind[slot] >= 0 and t >= s.pert_end[slot]:
            end_slot(s, p, slot, EventCode.PERTURBATION_ENDED)
    for spec in range(p.spec_prob.shape[0]):
        if p.spec_prob[spec] <= 0:
            continue
        if p.spec_kind[spec] == PRICE_SPIKE:
            _maybe_start(s, p, spec, -1, t)
        else:
            for d in range(s.district_power.shape[0]):
                _maybe_start(s, p, spec, d, t)
