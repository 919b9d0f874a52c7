"""Compile the config into ``Params``: the kernel's read-only scalars and small
tables (affordances, jobs, needs, perturbation specs), built once per world. Money
amounts become integer minor units here (townlet.config.money)."""

from __future__ import annotations

import ast
from typing import Any, NamedTuple

import numpy as np
from numba import njit, types
from numba.experimental import structref

from townlet.config import TownletConfig
from townlet.config.invariants import HOOKS, WEEK, district_plan
from townlet.config.money import to_minor
from townlet.config.preconds import COMPARISONS, NEED_VARIABLES, VARIABLES, parse_preconds
from townlet.config.world import NEEDS, OBJECT_TYPES, PRICES
from townlet.config.world import PERTURBATION_KINDS as PERT_KINDS
from townlet.world.jit import INTERPRETED
from townlet.world.town import Town

__all__ = ["HOOK", "HOOK_SHARED_MEAL", "HOOK_SHOWER", "HOOK_SLEEP", "MAX_CONDS", "PERMILLE", "PERT_KINDS", "KernelParams", "Params", "build_params", "kernel_params"]

MAX_CONDS = 8
PERMILLE = 1000
"""Shop markups and demand levels are integers in permille of the town price
(townlet.world.shops): integer arithmetic keeps every price a whole number of minor units."""
HOOK = {name: 1 << k for k, name in enumerate(HOOKS)}
"""Bit of each built-in hook in ``aff_hooks``."""
HOOK_SHARED_MEAL, HOOK_SHOWER, HOOK_SLEEP = (
    HOOK["shared_meal"], HOOK["shower_complete"], HOOK["sleep_complete"])
COND_VARS = VARIABLES + NEED_VARIABLES
"""Condition variable codes: the index into this tuple."""
V_FOOD, V_WALLET, V_STOCK, V_POWER, V_WATER, V_QUEUE = (COND_VARS.index(v) for v in (
    "agent.food", "agent.wallet", "stock", "power_on", "water_on", "queue_length"))
V_NEED0 = COND_VARS.index(NEED_VARIABLES[0])
"""Code of the first need; need n is ``V_NEED0 + n``."""
OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE = (COMPARISONS[op] for op in (
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE))
"""Comparison codes of ``cond_op``."""


class Params(NamedTuple):
    """Everything the kernel reads but never writes: scalars from the config and the
    town, then tables (one row per need, affordance, job or perturbation spec)."""

    day: int
    blocks_w: int
    districts_w: int
    district_side: int
    residents_per_district: int
    arrival_buffer: int
    grace: int
    absent_cutoff: int
    late_tick_penalty: float
    absence_penalty: float
    max_absent: int
    exit_spacing: int
    cooldown: int
    idle_timeout: int
    patience: int
    chat_chance: float
    chat_social: float
    chat_trust: float
    chat_fam: float
    meal_trust: float
    meal_fam: float
    handover_trust: float
    conflict_riv: float
    decay_hour: float
    riv_decay_hour: float
    workplace_riv: float
    copresence_trust: float
    copresence_fam: float
    avoid: float
    hour: int
    faint_ticks: int
    death_after: int
    starter_wallet: float
    starter_food: int
    starter_need: float
    restock_at: int
    treasury_target: int
    grocer_stock: int
    cafe_stock: int
    scarcity: int
    demand_markup: int
    markup_lo: int
    markup_hi: int
    max_concurrent: int
    global_cooldown: int
    bedtime: int
    night: int
    chrono_spread: int
    jitter: int
    appetite_lo: float
    appetite_hi: float
    sociability_lo: float
    sociability_hi: float
    punctuality_lo: int
    punctuality_hi: int
    overtime: int
    favourite_reach: int
    days_off: int
    week: int
    errand: int
    collapse_ticks: int
    collapse_energy: float
    unkempt_trust: float
    need_decay: np.ndarray
    need_seek: np.ndarray
    need_sat: np.ndarray
    need_crit: np.ndarray
    need_neglect: np.ndarray
    aff_type: np.ndarray
    aff_duration: np.ndarray
    aff_effect: np.ndarray
    aff_food: np.ndarray
    aff_price: np.ndarray
    aff_uses_food: np.ndarray
    aff_uses_stock: np.ndarray
    aff_hooks: np.ndarray
    aff_power: np.ndarray
    aff_water: np.ndarray
    cond_n: np.ndarray
    cond_var: np.ndarray
    cond_op: np.ndarray
    cond_val: np.ndarray
    type_aff: np.ndarray
    job_start: np.ndarray
    job_end: np.ndarray
    job_stagger: np.ndarray
    job_patterns: np.ndarray
    job_wage: np.ndarray
    job_wage_low_mood: np.ndarray
    job_late_penalty: np.ndarray
    spec_kind: np.ndarray
    spec_prob: np.ndarray
    spec_cool: np.ndarray
    spec_dmin: np.ndarray
    spec_dmax: np.ndarray
    spec_mmin: np.ndarray
    spec_mmax: np.ndarray
    spec_target: np.ndarray


@structref.register
class KernelParamsType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class KernelParams(structref.StructRefProxy):
    """Params as one by-reference struct for the compiled kernel."""


structref.define_proxy(KernelParams, KernelParamsType, list(Params._fields))


def _affordances(cfg: TownletConfig) -> dict[str, np.ndarray]:
    affs = cfg.world.affordances
    a = len(affs)
    t: dict[str, np.ndarray] = {
        "aff_type": np.array([OBJECT_TYPES.index(x.object_type) for x in affs], dtype=np.int8),
        "aff_duration": np.array([x.duration for x in affs], dtype=np.int32),
        "aff_effect": np.array([[x.effects.get(n, 0.0) for n in NEEDS] for x in affs],
                               dtype=np.float32).reshape(a, len(NEEDS)),
        "aff_food": np.array([int(x.effects.get("food", 0)) for x in affs], dtype=np.int16),
        "aff_price": np.array([PRICES.index(x.price) for x in affs], dtype=np.int8),
        "aff_uses_food": np.array([x.uses_food for x in affs], dtype=np.int16),
        "aff_uses_stock": np.array([x.uses_stock for x in affs], dtype=np.int32),
        "aff_hooks": np.array([sum(HOOK[h] for hs in x.hooks.values() for h in hs)
                               for x in affs], dtype=np.uint8),
        "cond_n": np.zeros(a, dtype=np.int8),
        "cond_var": np.zeros((a, MAX_CONDS), dtype=np.int8),
        "cond_op": np.zeros((a, MAX_CONDS), dtype=np.int8),
        "cond_val": np.zeros((a, MAX_CONDS), dtype=np.float64),
        "type_aff": np.full(len(OBJECT_TYPES), -1, dtype=np.int16),
    }
    power, water = np.zeros(a, dtype=np.uint8), np.zeros(a, dtype=np.uint8)
    for i, x in enumerate(affs):
        conds = parse_preconds(x.preconds)
        if len(conds) > MAX_CONDS:
            raise ValueError(f"affordance {x.id!r}: at most {MAX_CONDS} conditions")
        t["cond_n"][i] = len(conds)
        for k, (var, op, val) in enumerate(conds):
            t["cond_var"][i, k], t["cond_op"][i, k], t["cond_val"][i, k] = (
                COND_VARS.index(var), op, to_minor(val) if var == "agent.wallet" else val)
            power[i] |= var == "power_on"
            water[i] |= var == "water_on"
        if t["type_aff"][t["aff_type"][i]] >= 0:
            raise ValueError(f"affordance {x.id!r}: object type {x.object_type!r} already has "
                             "an affordance (one per object type)")
        t["type_aff"][t["aff_type"][i]] = i
    t["aff_power"], t["aff_water"] = power, water
    return t


def build_params(cfg: TownletConfig, town: Town) -> Params:
    """Everything the kernel reads but never writes."""
    w = cfg.world
    day = w.ticks_per_day
    needs = [getattr(w.needs, n) for n in NEEDS]
    jobs, specs = w.jobs, w.perturbations.events
    emp, rel, life, q, r = w.employment, w.relationships, w.lifecycle, w.queues, w.routines
    neg = w.neglect
    # ticks at 0 after which each need has its consequence (hunger's: starvation death)
    neglect_after = {"hunger": life.death_after_ticks, "hygiene": neg.unkempt_after,
                     "energy": neg.exhausted_after, "social": neg.lonely_after}
    values: dict[str, Any] = {
        "day": day, "blocks_w": town.blocks_w, "districts_w": town.blocks_w // w.town.district_side,
        "district_side": w.town.district_side,
        "residents_per_district": district_plan(w.town).residents,
        "arrival_buffer": emp.arrival_buffer, "grace": emp.grace_ticks, "absent_cutoff": emp.absent_cutoff,
        "late_tick_penalty": to_minor(emp.late_tick_penalty),
        "absence_penalty": to_minor(emp.absence_penalty),
        "max_absent": emp.max_absent_shifts,
        "exit_spacing": emp.exit_spacing_ticks, "cooldown": q.cooldown_ticks,
        "idle_timeout": q.idle_timeout_ticks, "patience": q.patience_ticks,
        "chat_chance": rel.chat_chance, "chat_social": rel.chat_social, "chat_trust": rel.chat_trust,
        "chat_fam": rel.chat_familiarity, "meal_trust": rel.shared_meal_trust,
        "meal_fam": rel.shared_meal_familiarity, "handover_trust": rel.handover_trust,
        "conflict_riv": rel.conflict_rivalry, "decay_hour": rel.decay_per_hour,
        "riv_decay_hour": rel.rivalry_decay_per_hour, "workplace_riv": rel.workplace_rivalry,
        "copresence_trust": rel.copresence_trust,
        "copresence_fam": rel.copresence_familiarity,
        "avoid": rel.avoid_threshold, "hour": max(1, day // 24),
        "faint_ticks": life.faint_ticks, "death_after": life.death_after_ticks,
        "starter_wallet": to_minor(life.starter_wallet),
        "starter_food": life.starter_food, "starter_need": life.starter_need,
        "restock_at": w.economy.restock_at % day,
        "treasury_target": to_minor(w.economy.treasury_per_agent) * w.town.agents, "grocer_stock": w.economy.grocer_stock,
        "cafe_stock": w.economy.cafe_stock,
        # shop prices in permille of the town price (townlet.world.shops)
        "scarcity": round(w.economy.scarcity_markup * PERMILLE),
        "demand_markup": round(w.economy.demand_markup * PERMILLE),
        "markup_lo": round(w.economy.markup_bounds[0] * PERMILLE),
        "markup_hi": round(w.economy.markup_bounds[1] * PERMILLE), "max_concurrent": w.perturbations.max_concurrent,
        "global_cooldown": w.perturbations.global_cooldown_ticks,
        "bedtime": r.bedtime % day,
        # an agent's night lasts one sleep (the bed affordance) from its bedtime
        "night": max([a.duration for a in w.affordances if a.object_type == "bed"], default=0),
        "chrono_spread": r.chronotype_spread,
        "jitter": r.daily_jitter, "appetite_lo": min(r.appetite), "appetite_hi": max(r.appetite),
        "sociability_lo": min(r.sociability), "sociability_hi": max(r.sociability),
        "punctuality_lo": min(r.punctuality), "punctuality_hi": max(r.punctuality),
        "overtime": r.overtime, "favourite_reach": r.favourite_reach, "days_off": emp.days_off, "week": WEEK,
        # longest affordance other than sleep: no errand starts closer than this to leaving for work
        "errand": max([a.duration for a in w.affordances if a.object_type != "bed"], default=0),
        "collapse_ticks": neg.collapse_ticks, "collapse_energy": neg.collapse_energy,
        "unkempt_trust": neg.unkempt_trust,
        "need_decay": np.array([n.decay for n in needs], dtype=np.float32),
        "need_seek": np.array([n.seek_below for n in needs], dtype=np.float32),
        "need_sat": np.array([n.satisfied_above for n in needs], dtype=np.float32),
        "need_crit": np.array([n.critical for n in needs], dtype=np.float32),
        "need_neglect": np.array([neglect_after[n] for n in NEEDS], dtype=np.int16),
        "job_start": np.array([j.start for j in jobs], dtype=np.int32),
        "job_end": np.array([j.end for j in jobs], dtype=np.int32),
        "job_stagger": np.array([j.stagger_ticks for j in jobs], dtype=np.int32),
        "job_patterns": np.array([j.patterns for j in jobs], dtype=np.int32),
        "job_wage": np.array([to_minor(j.wage) for j in jobs], dtype=np.int64),
        "job_wage_low_mood": np.array([round(to_minor(j.wage) * neg.low_mood_output)
                                       for j in jobs], dtype=np.int64),
        "job_late_penalty": np.array([to_minor(j.lateness_penalty) for j in jobs], dtype=np.int64),
        "spec_kind": np.array([PERT_KINDS.index(s.kind) for s in specs], dtype=np.int8),
        "spec_prob": np.array([s.prob_per_day for s in specs], dtype=np.float64),
        "spec_cool": np.array([s.cooldown_ticks for s in specs], dtype=np.int32),
        "spec_dmin": np.array([s.duration[0] for s in specs], dtype=np.int32),
        "spec_dmax": np.array([max(s.duration) for s in specs], dtype=np.int32),
        "spec_mmin": np.array([s.magnitude[0] for s in specs], dtype=np.float64),
        "spec_mmax": np.array([max(s.magnitude) for s in specs], dtype=np.float64),
        "spec_target": np.array([PRICES.index(s.target) if s.target in PRICES else 0
                              for s in specs], dtype=np.int8),
    }
    values.update(_affordances(cfg))
    return Params(**values)


@njit(cache=True)
def _new_kernel_params(*values):
    """``KernelParams(*values)``, compiled once and cached."""
    return KernelParams(*values)


def kernel_params(params: Params) -> KernelParams | Params:
    """Wrap the params (arrays shared, not copied) for the kernel; interpreted kernels
    (``NUMBA_DISABLE_JIT=1``) take ``params`` itself."""
    if INTERPRETED:  # scalars typed as compiled code types them, so arithmetic matches
        return Params._make(np.int64(v) if isinstance(v, int) else
                            np.float64(v) if isinstance(v, float) else v for v in params)
    return _new_kernel_params(*params)
