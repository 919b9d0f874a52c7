"""The egocentric map: town-wide grids, then one window copy per agent.

Channels that only depend on the tile (``walkable``, ``door``, ``objects``, one per
object type) are grids built once per town; channels that depend on objects'
state (``busy``, ``queue``, ``unusable``) are grids refreshed once per tick from
the objects alone; ``agents`` comes from a per-tick count of agents per tile.
Every grid is padded by the window radius with zeros (off the town: nothing, not
walkable), so an agent's window is a plain (W, W) slice at its own coordinates
and costs a copy instead of a per-tile walk of lists and buildings. Only
``own`` (its home's objects) and ``friends``/``rivals`` (its ties) are per agent.
"""

from __future__ import annotations

import collections
import math

import numpy as np
from numba import njit

from townlet.rl.layout import SUMMARY
from townlet.world.affordances import object_usable
from townlet.world.geometry import SLOTS, TILE, WALKABLE
from townlet.world.town import OBJ, OBJ_NAMES

__all__ = ["MapStatics", "WindowScratch", "build_map_statics", "map_pass", "new_window_scratch"]

MapStatics = collections.namedtuple("MapStatics", [
    "radius", "window", "agents_cap", "static_grids", "static_out", "object_sat",
    "p_agents", "p_friends", "p_rivals", "p_busy", "p_queue", "p_unusable", "p_own",
])
"""``static_grids`` (S, H + 2r, X + 2r) float32 and ``static_out`` (S,) the output
plane of each (-1: kept only for counting; grid 0 is always ``objects``);
``object_sat`` the summed-area table of objects; ``p_*`` output planes (-1: absent)."""

WindowScratch = collections.namedtuple("WindowScratch", [
    "counts", "dynamic", "changed", "touched", "near", "counted_at", "drawn_at", "summary"])
"""State kept with one output map between encodes (grids padded as the static ones):
``counts`` agents per tile and ``dynamic`` the ``busy``, ``queue`` and ``unusable``
values at object tiles (3 planes), both updated in place; ``changed`` marks tiles
whose count or object values changed this tick (``touched`` lists them to clear)
and ``near`` (unpadded, one byte per tile) the agent positions whose window holds
such a tile, so a slot that stayed put tests one byte instead of its whole window;
per slot, ``counted_at`` the flat grid index where ``counts`` holds it and
``drawn_at`` the window corner its map in the output was drawn at (NO_CELL: no map;
DEAD: zeros); ``summary`` its window summaries."""

NO_CELL, DEAD = -1, -2
DYN_BUSY, DYN_QUEUE, DYN_UNUSABLE = range(3)


def _plane(channels: tuple[str, ...], name: str) -> int:
    return channels.index(name) if name in channels else -1


def build_map_statics(channels: tuple[str, ...], window: int, agents_cap: int,
                      tile_kind: np.ndarray, obj_type: np.ndarray, obj_x: np.ndarray,
                      obj_y: np.ndarray) -> MapStatics:
    """The static grids of one town for a variant's ``channels`` (layout order)."""
    r = window // 2
    objects = np.zeros(tile_kind.shape, np.float32)
    placed = np.flatnonzero(obj_type >= 0)
    objects[obj_y[placed], obj_x[placed]] = 1.0
    grids, out = [objects], [_plane(channels, "objects")]
    if "walkable" in channels:
        grids.append(np.isin(tile_kind, WALKABLE).astype(np.float32))
        out.append(_plane(channels, "walkable"))
    if "door" in channels:
        grids.append((tile_kind == TILE.DOOR).astype(np.float32))
        out.append(_plane(channels, "door"))
    for t, name in enumerate(OBJ_NAMES):
        if f"obj_{name}" in channels:
            grid = np.zeros(tile_kind.shape, np.float32)
            of_type = placed[obj_type[placed] == t]
            grid[obj_y[of_type], obj_x[of_type]] = 1.0
            grids.append(grid)
            out.append(_plane(channels, f"obj_{name}"))
    padded = np.stack([np.pad(g, r) for g in grids])
    sat = np.zeros((padded.shape[1] + 1, padded.shape[2] + 1), np.int32)
    sat[1:, 1:] = padded[0].astype(np.int32).cumsum(0).cumsum(1)
    return MapStatics(
        radius=r, window=window, agents_cap=agents_cap, static_grids=padded,
        static_out=np.array(out, np.int64), object_sat=sat,
        p_agents=_plane(channels, "agents"), p_friends=_plane(channels, "friends"),
        p_rivals=_plane(channels, "rivals"), p_busy=_plane(channels, "busy"),
        p_queue=_plane(channels, "queue"), p_unusable=_plane(channels, "unusable"),
        p_own=_plane(channels, "own"))


def new_window_scratch(ms: MapStatics, n: int) -> WindowScratch:
    """Fresh state for an output map of ``n`` slots: every slot is drawn in full at
    the next encode. Keep it with that output array (a new array needs a new one)."""
    shape = ms.static_grids.shape[1:]
    return WindowScratch(
        counts=np.zeros(shape, np.int32), dynamic=np.zeros((3, *shape), np.float32),
        changed=np.zeros(shape, np.uint8), touched=np.zeros(shape[0] * shape[1], np.int32),
        near=np.zeros((shape[0] - 2 * ms.radius, shape[1] - 2 * ms.radius), np.uint8),
        counted_at=np.full(n, NO_CELL, np.int64), drawn_at=np.full(n, NO_CELL, np.int64),
        summary=np.zeros((n, 4), np.float32))


@njit(cache=True, inline="always")
def _mark(changed, touched_list, flat, touched):
    """Mark padded tile ``flat`` changed; returns the new length of the touched list."""
    if not changed[flat]:
        changed[flat] = 1
        touched_list[touched] = flat  # room for every tile: each is marked at most once
        touched += 1
    return touched


@njit(cache=True)
def _refresh(st, kp, ms, ws):
    """This tick's counts and object values, marking the tiles that changed; returns
    how many tiles were marked."""
    r, cap = ms.radius, ms.agents_cap
    counts, dyn = ws.counts.reshape(-1), ws.dynamic
    xp = ws.counts.shape[1]
    changed, tl = ws.changed.reshape(-1), ws.touched
    touched = 0
    for i in range(st.agent_alive.shape[0]):
        now = (st.agent_y[i] + r) * xp + st.agent_x[i] + r if st.agent_alive[i] else NO_CELL
        before = ws.counted_at[i]
        if now != before:
            if before >= 0:
                counts[before] -= 1
                touched = _mark(changed, tl, before, touched)
            if now >= 0:
                counts[now] += 1
                touched = _mark(changed, tl, now, touched)
            ws.counted_at[i] = now
    for ob in range(st.obj_type.shape[0]):
        t = st.obj_type[ob]
        if t < 0:
            continue
        y, x = st.obj_y[ob] + r, st.obj_x[ob] + r
        q = st.obj_q_len[ob]
        busy = 1.0 if st.obj_holder[ob] >= 0 or q > 0 else 0.0
        queue = min(q, cap) / cap if ms.p_queue >= 0 else 0.0
        unusable = 0.0
        if ms.p_unusable >= 0:
            a = kp.type_aff[t]
            unusable = 1.0 if a < 0 or not object_usable(st, kp, ob, a) else 0.0
        if (dyn[DYN_BUSY, y, x] != busy or dyn[DYN_QUEUE, y, x] != np.float32(queue)
                or dyn[DYN_UNUSABLE, y, x] != unusable):
            dyn[DYN_BUSY, y, x] = busy
            dyn[DYN_QUEUE, y, x] = queue
            dyn[DYN_UNUSABLE, y, x] = unusable
            touched = _mark(changed, tl, y * xp + x, touched)
    return touched


@njit(cache=True)
def _stamp(ws, touched, W, value):
    """Set ``near`` to ``value`` at every position whose window (corner = the agent's
    position, padded grids) covers one of the ``touched`` tiles."""
    near, xp = ws.near, ws.changed.shape[1]
    H, X = near.shape
    for k in range(touched):
        ty, tx = divmod(ws.touched[k], xp)
        for y in range(max(0, ty - W + 1), min(H, ty + 1)):
            for x in range(max(0, tx - W + 1), min(X, tx + 1)):
                near[y, x] = value


@njit(cache=True, inline="always")
def _copy(src, k, y, x, dst, p, W):
    """dst[p] = src[k, y:y+W, x:x+W] (indexing in place: a view per row would cost
    reference counting in the loop)."""
    for wy in range(W):
        for wx in range(W):
            dst[p, wy, wx] = src[k, y + wy, x + wx]


@njit(cache=True, inline="always")
def _tie_of(rel_other, i, other):
    """Slot index k of agent i's tie toward ``other``, or -1."""
    for k in range(rel_other.shape[1]):
        if rel_other[i, k] == other:
            return k
    return -1


@njit(cache=True, inline="always")
def _ties(st, ms, i, m, gy, gx):
    """``friends`` and ``rivals``: agent i's trust and rivalry toward those on each tile."""
    r, W = ms.radius, ms.window
    if ms.p_friends >= 0:
        m[ms.p_friends] = 0.0
    if ms.p_rivals >= 0:
        m[ms.p_rivals] = 0.0
    for wy in range(W):
        for wx in range(W):
            x, y = gx + wx - r, gy + wy - r
            if x < 0 or y < 0 or y >= st.tile_head.shape[0] or x >= st.tile_head.shape[1]:
                continue
            a = st.tile_head[y, x]
            if a < 0:
                continue
            friends = rivals = 0.0
            while a >= 0:
                if a != i:
                    k = _tie_of(st.rel_other, i, a)
                    if k >= 0:
                        friends += max(0.0, st.rel_trust[i, k])
                        rivals += st.rel_riv[i, k]
                a = st.agent_t_next[a]
            if ms.p_friends >= 0:
                m[ms.p_friends, wy, wx] = min(friends, 1.0)
            if ms.p_rivals >= 0:
                m[ms.p_rivals, wy, wx] = min(rivals, 1.0)


@njit(cache=True, inline="always")
def _draw(st, ms, ws, i, m, gy, gx):
    """Agent i's whole map at window corner (gy, gx) of the padded grids."""
    r, W, cap = ms.radius, ms.window, ms.agents_cap
    grids, outs, dyn = ms.static_grids, ms.static_out, ws.dynamic
    for s in range(outs.shape[0]):
        if outs[s] >= 0:
            _copy(grids, s, gy, gx, m, outs[s], W)
    for p, g in ((ms.p_busy, DYN_BUSY), (ms.p_queue, DYN_QUEUE), (ms.p_unusable, DYN_UNUSABLE)):
        if p >= 0:
            _copy(dyn, g, gy, gx, m, p, W)
    counts, p_agents = ws.counts, ms.p_agents
    if p_agents >= 0:
        for wy in range(W):
            for wx in range(W):
                c = counts[gy + wy, gx + wx] - (1 if wy == r and wx == r else 0)  # others
                m[p_agents, wy, wx] = min(c, cap) / cap
    if ms.p_own >= 0:
        m[ms.p_own] = 0.0
        home, bed = st.agent_home[i], st.agent_bed[i]
        for ob in range(home * SLOTS, home * SLOTS + SLOTS):
            t = st.obj_type[ob]
            wx, wy = st.obj_x[ob] - gx + r, st.obj_y[ob] - gy + r
            if t >= 0 and (t != OBJ.BED or ob == bed) and 0 <= wx < W and 0 <= wy < W:
                m[ms.p_own, wy, wx] = 1.0


@njit(cache=True, inline="always")
def _redraw_changed(ms, ws, flat_changed, m, gy, gx):
    """Rewrite the tiles of the window that changed this tick; whether there were any."""
    r, W, cap = ms.radius, ms.window, ms.agents_cap
    dyn, changed, counts = ws.dynamic, ws.changed, ws.counts
    xp = changed.shape[1]
    any_changed = False
    for wy in range(W):
        row = np.uint64((gy + wy) * xp + gx)  # unsigned: no negative-index check, so
        hit = np.uint8(0)  # the row test compiles to a few vector loads
        for wx in range(np.uint64(W)):
            hit |= flat_changed[row + wx]
        if not hit:
            continue
        for wx in range(W):
            if not changed[gy + wy, gx + wx]:
                continue
            any_changed = True
            y, x = gy + wy, gx + wx
            if ms.p_agents >= 0:
                c = counts[y, x] - (1 if wy == r and wx == r else 0)
                m[ms.p_agents, wy, wx] = min(c, cap) / cap
            if ms.p_busy >= 0:
                m[ms.p_busy, wy, wx] = dyn[DYN_BUSY, y, x]
            if ms.p_queue >= 0:
                m[ms.p_queue, wy, wx] = dyn[DYN_QUEUE, y, x]
            if ms.p_unusable >= 0:
                m[ms.p_unusable, wy, wx] = dyn[DYN_UNUSABLE, y, x]
    return any_changed


@njit(cache=True, inline="always")
def _summarise(ms, ws, gy, gx, out, i):
    """Row i of ``out``: the window summaries of the agent whose window corner is (gy, gx)."""
    r, W, cap, sat = ms.radius, ms.window, ms.agents_cap, ms.object_sat
    counts, dyn = ws.counts, ws.dynamic
    n_busy = n_agents = 0
    best = -1
    for wy in range(W):
        for wx in range(W):
            n_busy += dyn[DYN_BUSY, gy + wy, gx + wx] != 0.0
            c = counts[gy + wy, gx + wx] - (1 if wy == r and wx == r else 0)
            if c > 0:
                n_agents += min(c, cap)
                d2 = (wx - r) * (wx - r) + (wy - r) * (wy - r)
                if best < 0 or d2 < best:
                    best = d2
    n_objects = sat[gy + W, gx + W] - sat[gy, gx + W] - sat[gy + W, gx] + sat[gy, gx]
    out[i, SUMMARY.neighbor_agent_ratio] = min(1.0, n_agents / (W * W - 1))
    out[i, SUMMARY.neighbor_object_ratio] = n_objects / (W * W)
    out[i, SUMMARY.busy_object_ratio] = n_busy / (W * W)
    out[i, SUMMARY.nearest_agent_closeness] = (
        1.0 - math.sqrt(best) / (r * math.sqrt(2.0)) if best >= 0 else 0.0)


@njit(cache=True)
def map_pass(st, kp, ms, ws, out_map):
    """Egocentric maps into out_map (N, C, W, W) and each living slot's window summary
    into ``ws.summary`` (the encoder copies it into the features); tile (tx, ty) lands
    at ``[c, r + ty - ay, r + tx - ax]``. A slot whose agent stayed put since the last
    pass gets only its changed tiles rewritten."""
    touched = _refresh(st, kp, ms, ws)
    _stamp(ws, touched, ms.window, 1)
    xp, near = ws.counts.shape[1], ws.near
    social = ms.p_friends >= 0 or ms.p_rivals >= 0
    summary, flat_changed = ws.summary, ws.changed.reshape(-1)
    for i in range(st.agent_alive.shape[0]):
        m = out_map[i]
        if not st.agent_alive[i]:
            if ws.drawn_at[i] != DEAD:
                m[:] = 0.0
                ws.drawn_at[i] = DEAD
            continue
        gy, gx = st.agent_y[i], st.agent_x[i]  # the window's corner in the padded grids
        if ws.drawn_at[i] != gy * xp + gx:
            _draw(st, ms, ws, i, m, gy, gx)
            ws.drawn_at[i] = gy * xp + gx
            _summarise(ms, ws, gy, gx, summary, i)
        elif near[gy, gx] and _redraw_changed(ms, ws, flat_changed, m, gy, gx):
            _summarise(ms, ws, gy, gx, summary, i)
        if social:
            _ties(st, ms, i, m, gy, gx)
    _stamp(ws, touched, ms.window, 0)
    for k in range(touched):
        flat_changed[ws.touched[k]] = 0
