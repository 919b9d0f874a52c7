"""Compiled action masks: which actions the world would not ignore or refuse.

The rules mirror ``townlet.world.kernel._act`` for the next tick:

- empty, possessed or fainted slots: only ``WAIT`` (the world ignores the rest);
- running an affordance: ``WAIT`` (keep going) or ``CANCEL``;
- an option running: ``WAIT`` (continue it), ``CANCEL`` or another option;
  primitives would be ignored;
- otherwise moves onto walkable tiles; ``INTERACT`` on an object's access tile
  when the world would queue the agent or start the affordance (the world's own
  precondition check, price, food and stock); ``TALK`` with a non-rival
  neighbour; ``CANCEL`` when queueing or holding; options unless impossible:
  ``GO_EAT`` needs food at home or the price of a cafe meal or of groceries,
  ``GO_SHOP`` the price of groceries, ``GO_WASH`` the shower's. A shop's price is
  what it charges (the town price times its markup, ``townlet.world.shops``), at
  the agent's district shop or, as the option falls back to it, the next
  district's; a shop counts only with a usable object holding stock for one use.

``WAIT`` is always allowed, so every row has a valid action.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from townlet.world.actions import A, Flag
from townlet.world.affordances import object_usable, startable
from townlet.world.geometry import SLOTS
from townlet.world.policy import _next_district
from townlet.world.shops import marked_up
from townlet.world.social import MAX_SCAN
from townlet.world.state import Price, Resv
from townlet.world.town import OBJ

__all__ = ["action_masks"]


UNAVAILABLE = np.int64(1) << 62
"""Price of a shop that cannot serve: no wallet reaches it."""


@njit(cache=True)
def _shop_price(st, kp, b, otype):
    """What shop b charges for ``otype``'s affordance, if one of its objects of that
    type is usable and holds the stock for one use; else UNAVAILABLE."""
    a = kp.type_aff[otype]
    if a < 0:
        return UNAVAILABLE
    for o in range(b * SLOTS, b * SLOTS + SLOTS):
        if st.obj_type[o] == otype and st.obj_stock[o] >= kp.aff_uses_stock[a] \
                and object_usable(st, kp, o, a):
            return marked_up(st, kp.aff_price[a], b)
    return UNAVAILABLE


@njit(cache=True)
def _district_prices(st, kp):
    """(districts, 2): the least a cafe meal (column 0) and groceries (column 1) cost
    an agent of each district, at its own shop or the next district's (where the
    option goes when its own cannot serve, ``townlet.world.policy._shop_object``)."""
    n = st.district_cafe.shape[0]
    out = np.empty((n, 2), np.int64)
    for d in range(n):
        e = _next_district(kp, d, n)
        out[d, 0] = min(_shop_price(st, kp, st.district_cafe[d], OBJ.COUNTER),
                        _shop_price(st, kp, st.district_cafe[e], OBJ.COUNTER))
        out[d, 1] = min(_shop_price(st, kp, st.district_grocer[d], OBJ.TILL),
                        _shop_price(st, kp, st.district_grocer[e], OBJ.TILL))
    return out


@njit(cache=True)
def _rival(rel_other, rel_riv, i, j, avoid):
    for k in range(rel_other.shape[1]):
        if rel_other[i, k] == j:
            return rel_riv[i, k] >= avoid
    return False


@njit(cache=True)
def _partner(tile_head, t_next, rel_other, rel_riv, avoid, i, x, y):
    """Whether a non-rival stands within Chebyshev 1 (scanning as the world does)."""
    H, X = tile_head.shape
    for yy in range(max(0, y - 1), min(H, y + 2)):
        for xx in range(max(0, x - 1), min(X, x + 2)):
            a = tile_head[yy, xx]
            scanned = 0
            while a >= 0 and scanned < MAX_SCAN:
                if a != i and not _rival(rel_other, rel_riv, i, a, avoid):
                    return True
                a = t_next[a]
                scanned += 1
    return False


@njit(cache=True)
def _interact_pass(st, sx, kp, t, out_mask):
    """INTERACT for slots free to use primitives (MOVE/TALK decided already)."""
    H, X = sx.acc_at.shape
    for i in range(st.agent_alive.shape[0]):
        if not out_mask[i, A.GO_SLEEP] or st.agent_aff[i] >= 0 or st.agent_option[i]:
            continue
        x, y = st.agent_x[i], st.agent_y[i]
        ob = sx.acc_at[y, x] if 0 <= y < H and 0 <= x < X else -1
        if ob < 0:
            continue
        a = kp.type_aff[st.obj_type[ob]]
        if a < 0:
            continue
        mine = st.agent_obj[i] == ob
        if mine and st.agent_resv[i] == Resv.WAITING:
            out_mask[i, A.INTERACT] = True  # keep waiting in this queue
            continue
        if not mine or st.agent_resv[i] == Resv.NONE:
            if st.agent_cool_obj[i] == ob and t < st.agent_cool_until[i]:
                continue  # the world refuses to queue during the cooldown
            if st.obj_holder[ob] >= 0 or st.obj_q_len[ob] > 0:
                out_mask[i, A.INTERACT] = True  # joins the queue
                continue
        out_mask[i, A.INTERACT] = startable(st, kp, i, ob, a)


@njit(cache=True)
def action_masks(st, sx, kp, out_mask, out_controlled):
    """Fill ``out_mask`` (N, N_ACTIONS) bool and ``out_controlled`` (N,) bool
    (``kp``: the world's KernelParams)."""
    t = st.clock[0] + 1  # the tick the actions will run in
    shops = _district_prices(st, kp)
    p_shower = st.price_now[Price.SHOWER]
    avoid = sx.avoid_threshold
    alive, flags_, aff, option = st.agent_alive, st.agent_flags, st.agent_aff, st.agent_option
    wallet_, food, resv, district = st.agent_wallet, st.agent_food, st.agent_resv, st.agent_district
    agent_x, agent_y, moves = st.agent_x, st.agent_y, sx.moves
    tile_head, t_next, rel_other, rel_riv = st.tile_head, st.agent_t_next, st.rel_other, st.rel_riv
    for i in range(alive.shape[0]):
        m = out_mask[i]
        m[:] = False
        m[A.WAIT] = True
        flags = flags_[i]
        out_controlled[i] = alive[i] != 0 and not (flags & Flag.POSSESSED)
        if not out_controlled[i] or flags & Flag.FAINTED:
            continue
        if aff[i] >= 0:
            m[A.CANCEL] = True
            continue
        wallet = wallet_[i]
        p_cafe, p_groceries = shops[district[i], 0], shops[district[i], 1]
        m[A.CANCEL] = option[i] != 0 or resv[i] != Resv.NONE
        m[A.GO_EAT] = food[i] >= 1 or wallet >= min(p_cafe, p_groceries)
        m[A.GO_WASH] = wallet >= p_shower
        m[A.GO_SLEEP] = True
        m[A.GO_WORK] = True
        m[A.GO_SHOP] = wallet >= p_groceries
        m[A.GO_SOCIAL] = True
        m[A.GO_HOME] = True
        if option[i]:
            continue
        x, y = agent_x[i], agent_y[i]
        bits = moves[y, x]
        for k in range(A.MOVE_W - A.MOVE_N + 1):  # bit k: MOVE_N + k (rl.statics)
            m[A.MOVE_N + k] = (bits >> k) & 1 != 0
        m[A.TALK] = _partner(tile_head, t_next, rel_other, rel_riv, avoid, i, x, y)
    _interact_pass(st, sx, kp, t, out_mask)
