"""Compiled action masks: which actions are not obviously invalid for each slot.

A mask marks impossible options and primitives the world would refuse (a wall
ahead, no object to use, no money or food for it, nobody to talk to). ``WAIT``
is always allowed, so every row has at least one valid action. Slots that are
empty, possessed by an operator or fainted allow only ``WAIT``; the env reports
the first two as not policy-controlled.
"""

from __future__ import annotations

from numba import njit

__all__ = ["action_masks"]

F_POSSESSED, F_FAINTED = 1, 2
T_STREET, T_FLOOR, T_DOOR = 0, 1, 3
OBJ_BED = 0
BLD_HOME = 1
PERIOD = 8
WAIT, MOVE_N, MOVE_E, MOVE_S, MOVE_W, INTERACT, TALK, CANCEL = 0, 1, 2, 3, 4, 5, 6, 7
GO_EAT, GO_WASH, GO_SLEEP, GO_WORK, GO_SHOP, GO_SOCIAL, GO_HOME = 8, 9, 10, 11, 12, 13, 14
N_ACT = 15


@njit(cache=True)
def _walkable(tile_kind, x, y):
    H, X = tile_kind.shape
    if not (0 <= x < X and 0 <= y < H):
        return False
    k = tile_kind[y, x]
    return k == T_STREET or k == T_FLOOR or k == T_DOOR


@njit(cache=True)
def _neighbour(tile_head, t_next, i, x, y):
    """Whether another agent stands within Chebyshev distance 1 of (x, y)."""
    H, X = tile_head.shape
    for yy in range(max(0, y - 1), min(H, y + 2)):
        for xx in range(max(0, x - 1), min(X, x + 2)):
            a = tile_head[yy, xx]
            while a >= 0:
                if a != i:
                    return True
                a = t_next[a]
    return False


@njit(cache=True)
def _interact_ok(st, sx, tick, out_mask):
    """INTERACT for slots free to act (GO_SLEEP already allowed) and not mid-affordance."""
    H, X = sx.acc_at.shape
    for i in range(st.agent_alive.shape[0]):
        if not out_mask[i, GO_SLEEP] or st.agent_aff[i] >= 0:
            continue
        x, y = st.agent_x[i], st.agent_y[i]
        ob = sx.acc_at[y, x] if 0 <= y < H and 0 <= x < X else -1
        if ob < 0:
            continue
        t = st.obj_type[ob]
        if t < 0 or not sx.type_has_aff[t] or st.obj_disabled[ob]:
            continue
        resv, held = st.agent_resv[i], st.agent_obj[i]
        if resv != 0 and held != ob:
            continue  # committed to another object
        if resv == 1:
            continue  # already queueing here
        if resv == 2:
            out_mask[i, INTERACT] = True  # holding it: interact starts the affordance
            continue
        if st.agent_cool_obj[i] == ob and tick < st.agent_cool_until[i]:
            continue
        b = (st.obj_y[ob] // PERIOD) * sx.blocks_w + st.obj_x[ob] // PERIOD
        if t == OBJ_BED and ob != st.agent_bed[i]:
            continue
        if st.bld_kind[b] == BLD_HOME and b != st.agent_home[i]:
            continue
        d = st.bld_district[b]
        if (sx.type_power[t] and not st.district_power[d]) or \
                (sx.type_water[t] and not st.district_water[d]):
            continue
        if st.agent_food[i] < sx.type_uses_food[t] or st.obj_stock[ob] < sx.type_uses_stock[t]:
            continue
        out_mask[i, INTERACT] = st.agent_wallet[i] >= st.price_now[sx.type_price[t]]


@njit(cache=True)
def action_masks(st, sx, out_mask, out_controlled):
    """Fill ``out_mask`` (N, 15) bool and ``out_controlled`` (N,) bool."""
    tick = st.clock[0]
    p_cafe = st.price_now[sx.price_cafe]
    p_shower = st.price_now[sx.price_shower]
    p_groceries = st.price_now[sx.price_groceries]
    tile_kind, tile_head, t_next = st.tile_kind, st.tile_head, st.agent_t_next
    for i in range(st.agent_alive.shape[0]):
        m = out_mask[i]
        m[:] = False
        m[WAIT] = True
        flags = st.agent_flags[i]
        out_controlled[i] = st.agent_alive[i] != 0 and not (flags & F_POSSESSED)
        if not out_controlled[i] or flags & F_FAINTED:
            continue
        x, y = st.agent_x[i], st.agent_y[i]
        busy = st.agent_aff[i] >= 0
        if not busy:
            m[MOVE_N] = _walkable(tile_kind, x, y - 1)
            m[MOVE_E] = _walkable(tile_kind, x + 1, y)
            m[MOVE_S] = _walkable(tile_kind, x, y + 1)
            m[MOVE_W] = _walkable(tile_kind, x - 1, y)
        m[TALK] = _neighbour(tile_head, t_next, i, x, y)
        m[CANCEL] = busy or st.agent_resv[i] != 0
        wallet = st.agent_wallet[i]
        m[GO_EAT] = st.agent_food[i] >= 1 or wallet >= p_cafe
        m[GO_WASH] = wallet >= p_shower
        m[GO_SLEEP] = True
        m[GO_WORK] = True
        m[GO_SHOP] = wallet >= p_groceries
        m[GO_SOCIAL] = True
        m[GO_HOME] = True
    _interact_ok(st, sx, tick, out_mask)
