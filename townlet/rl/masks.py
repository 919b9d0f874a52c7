"""Compiled action masks: which actions the world would not ignore or refuse.

The rules mirror ``townlet.world.kernel._act`` for the next tick:

- empty, possessed or fainted slots: only ``WAIT`` (the world ignores the rest);
- running an affordance: ``WAIT`` (keep going) or ``CANCEL``;
- an option running: ``WAIT`` (continue it), ``CANCEL`` or another option;
  primitives would be ignored;
- otherwise moves onto walkable tiles; ``INTERACT`` on an object's access tile
  when the world would queue the agent or start the affordance (the world's own
  precondition check, price, food and stock); ``TALK`` with a non-rival
  neighbour; ``CANCEL`` when queueing or holding; options unless impossible
  (``GO_EAT`` needs food or the cafe price, ``GO_WASH``/``GO_SHOP`` their prices).

``WAIT`` is always allowed, so every row has a valid action.
"""

from __future__ import annotations

from numba import njit

from townlet.world.actions import A, Flag
from townlet.world.affordances import startable
from townlet.world.social import MAX_SCAN
from townlet.world.state import Price, Resv

__all__ = ["action_masks"]


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
    p_cafe = st.price_now[Price.CAFE_MEAL]
    p_shower = st.price_now[Price.SHOWER]
    p_groceries = st.price_now[Price.GROCERIES]
    avoid = sx.avoid_threshold
    alive, flags_, aff, option = st.agent_alive, st.agent_flags, st.agent_aff, st.agent_option
    wallet_, food, resv = st.agent_wallet, st.agent_food, st.agent_resv
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
        m[A.CANCEL] = option[i] != 0 or resv[i] != Resv.NONE
        m[A.GO_EAT] = food[i] >= 1 or wallet >= p_cafe
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
