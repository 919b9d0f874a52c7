"""Affordances: preconditions, start (with payment), completion and failure.

Everything taken at start (money, food, stock) is recorded and returned if the
affordance fails or is cancelled, so a failure never costs anything and money
changes only through the ledger. Effects apply once, at completion. A shop's
price is the town price times its markup (townlet.world.shops).
"""

from __future__ import annotations

import numpy as np

from townlet.config.money import MINOR_PER_UNIT
from townlet.world.ahead import guard, guard_in
from townlet.world.events import EventCode, Reason, emit
from townlet.world.geometry import SLOTS
from townlet.world.jit import kernel
from townlet.world.params import (
    HOOK_SHARED_MEAL,
    HOOK_SHOWER,
    HOOK_SLEEP,
    OP_EQ,
    OP_GT,
    OP_LE,
    OP_LT,
    OP_NE,
    V_FOOD,
    V_NEED0,
    V_POWER,
    V_QUEUE,
    V_STOCK,
    V_WALLET,
    V_WATER,
)
from townlet.world.queues import release
from townlet.world.shops import on_stock_change, price_at
from townlet.world.social import bump_pair, shared_meal
from townlet.world.state import Group, Ledger, St

__all__ = ["complete", "fail_running", "object_usable", "start", "startable"]


@kernel
def _variable(s, i, o, var):
    """The value of precondition variable ``var`` for agent i at object o (reads only)."""
    if var == V_FOOD:
        return np.float64(s.agent_food[i])
    if var == V_WALLET:
        return np.float64(s.agent_wallet[i])  # minor units, as cond_val (params)
    if var == V_STOCK:
        return np.float64(s.obj_stock[o])
    d = s.bld_district[o // SLOTS]
    if var == V_POWER:
        return np.float64(s.district_power[d])
    if var == V_WATER:
        return np.float64(s.district_water[d])
    if var == V_QUEUE:
        return np.float64(s.obj_q_len[o])
    return np.float64(s.agent_needs[i, var - V_NEED0])


@kernel
def _holds(value, op, ref):
    """Whether ``value op ref`` holds for comparison code ``op`` (pure)."""
    if op == OP_EQ:
        return value == ref
    if op == OP_NE:
        return value != ref
    if op == OP_LT:
        return value < ref
    if op == OP_LE:
        return value <= ref
    if op == OP_GT:
        return value > ref
    return value >= ref


@kernel
def failing_condition(s, p, i, o, a):
    """Index of the first precondition of ``a`` that does not hold, or -1."""
    for k in range(p.cond_n[a]):
        if not _holds(_variable(s, i, o, p.cond_var[a, k]), p.cond_op[a, k], p.cond_val[a, k]):
            return k
    return -1


@kernel
def object_usable(s, p, o, a):
    """False when the object is disabled or its district lacks the utility it needs."""
    d = s.bld_district[o // SLOTS]
    if s.obj_disabled[o]:
        return False
    if p.aff_power[a] and not s.district_power[d]:
        return False
    return not (p.aff_water[a] and not s.district_water[d])


@kernel
def startable(s, p, i, o, a):
    """Whether agent i could start affordance ``a`` on object o right now: the object
    is usable, every precondition holds, and price, food and stock suffice."""
    return (object_usable(s, p, o, a) and failing_condition(s, p, i, o, a) < 0
            and s.agent_wallet[i] >= price_at(s, p, a, o)
            and s.agent_food[i] >= p.aff_uses_food[a]
            and s.obj_stock[o] >= p.aff_uses_stock[a])


@kernel
def _refuse(s, p, i, o, t, reason):
    """Agent i's use of o fails: event, FAILED stat, reservation released, o on cooldown for i."""
    emit(s, EventCode.AFFORDANCE_FAIL, i, -1, o, reason)
    s.stats[St.FAILED] += 1
    release(s, i, t, 0)
    s.agent_cool_obj[i] = o  # do not hammer a refusing object every tick
    s.agent_cool_until[i] = t + p.idle_timeout


@kernel
def start(s, p, i, t):
    """The holder starts the object's affordance; returns True when it runs."""
    o = s.agent_obj[i]
    a = p.type_aff[s.obj_type[o]]
    if a < 0 or s.obj_disabled[o]:
        _refuse(s, p, i, o, t, Reason.DISABLED)
        return False
    k = failing_condition(s, p, i, o, a)
    if k >= 0:
        emit(s, EventCode.PRECONDITION_FAIL, i, -1, o, k)
        _refuse(s, p, i, o, t, Reason.PRECONDITION)
        return False
    price = price_at(s, p, a, o)
    if s.agent_wallet[i] < price:
        _refuse(s, p, i, o, t, Reason.FUNDS)
        return False
    if s.agent_food[i] < p.aff_uses_food[a]:
        _refuse(s, p, i, o, t, Reason.NO_FOOD)
        return False
    if s.obj_stock[o] < p.aff_uses_stock[a]:
        _refuse(s, p, i, o, t, Reason.STOCK)
        return False
    s.agent_wallet[i] -= price
    s.ledger[Ledger.SPENDING] += price
    s.agent_aff_paid[i] = price
    s.agent_food[i] -= p.aff_uses_food[a]
    if p.aff_uses_stock[a]:
        guard_in(s, Group.OBJECTS, o)
        s.obj_stock[o] -= p.aff_uses_stock[a]
        on_stock_change(s, p, o, -p.aff_uses_stock[a])
    s.agent_aff[i] = a
    s.agent_aff_end[i] = t + p.aff_duration[a]
    emit(s, EventCode.AFFORDANCE_START, i, -1, o, price / MINOR_PER_UNIT)
    return True


@kernel
def fail_running(s, p, i, t, reason):
    """Stop the running affordance: refund everything, no effects, free the object."""
    guard(s, i)  # the holder of an object a perturbation cuts off, before the slot loop
    a = s.agent_aff[i]
    o = s.agent_obj[i]
    paid = s.agent_aff_paid[i]
    s.agent_wallet[i] += paid
    s.ledger[Ledger.SPENDING] -= paid
    s.agent_aff_paid[i] = 0
    s.agent_food[i] += p.aff_uses_food[a]
    if p.aff_uses_stock[a]:
        guard_in(s, Group.OBJECTS, o)
        s.obj_stock[o] += p.aff_uses_stock[a]
        on_stock_change(s, p, o, p.aff_uses_stock[a])
    s.agent_aff[i] = -1
    s.stats[St.FAILED] += 1
    emit(s, EventCode.AFFORDANCE_FAIL, i, -1, o, reason)
    release(s, i, t, 0)


@kernel
def complete(s, p, i, t):
    """Apply effects and hooks, release with cooldown and hand over to the next waiter."""
    a = s.agent_aff[i]
    o = s.agent_obj[i]
    for n in range(s.agent_needs.shape[1]):
        v = s.agent_needs[i, n] + p.aff_effect[a, n]
        s.agent_needs[i, n] = min(np.float32(1.0), max(np.float32(0.0), v))
    s.agent_food[i] += p.aff_food[a]
    hooks = p.aff_hooks[a]
    if hooks & HOOK_SHARED_MEAL:
        shared_meal(s, p, i, o)
    if hooks & HOOK_SHOWER:
        emit(s, EventCode.SHOWER_COMPLETE, i, -1, o, 0.0)
    if hooks & HOOK_SLEEP:
        emit(s, EventCode.SLEEP_COMPLETE, i, -1, o, 0.0)
    s.agent_aff[i] = -1
    s.agent_aff_paid[i] = 0
    s.stats[St.COMPLETED] += 1
    emit(s, EventCode.AFFORDANCE_FINISH, i, -1, o, a)
    nxt = release(s, i, t, p.cooldown)
    if nxt >= 0:
        emit(s, EventCode.QUEUE_HANDOVER, i, nxt, o, 0.0)
        bump_pair(s, p, i, nxt, p.handover_trust, 0.0, 0.0)

