"""Slow, obviously-correct reference for the RL observation encoder and masks.

Features are computed by *name* (so a misplaced index in the compiled kernel
shows up as a mismatch), agents on a tile are found by scanning every agent,
objects by scanning every object; nothing uses the kernel's tile lists.
"""

from __future__ import annotations

import math

import numpy as np

from townlet.config import TownletConfig
from townlet.config.money import to_units
from townlet.config.preconds import parse_preconds
from townlet.config.world import NEEDS
from townlet.rl.layout import LANDMARKS, Layout
from townlet.world.actions import Action, Flag, Goal, Shift
from townlet.world.geometry import PERIOD, TILE, next_step
from townlet.world.state import PRICES, Roster
from townlet.world.town import OBJ, OBJ_NAMES

WALKABLE = (TILE.STREET, TILE.FLOOR, TILE.DOOR)


def squash(x, s):
    return x / (x + s) if x > 0 else 0.0


def building_at(x, y, bw):
    if x % PERIOD == 0 or y % PERIOD == 0:
        return -1
    return (y // PERIOD) * bw + x // PERIOD


def first_aff(cfg, t):
    for a in cfg.world.affordances:
        if a.object_type == OBJ_NAMES[t]:
            return a
    return None


def needs_utility(aff, var):
    return aff is not None and any(p.replace(" ", "") == f"{var}==true" for p in aff.preconds)


def features(cfg: TownletConfig, layout: Layout, st, i, emb_of, ep_len, ctx_reset, max_slots):
    """name -> value for living agent i."""
    obs = cfg.rl.observations
    D = cfg.world.ticks_per_day
    tick = int(st.clock[0])
    tod = tick % D
    bw = (st.tile_kind.shape[1] - 1) // PERIOD
    v = {}
    for n, name in enumerate(NEEDS):
        v[f"need_{name}"] = st.agent_needs[i, n]
    v["wallet"] = squash(to_units(st.agent_wallet[i]), obs.wallet_scale)
    v["food"] = squash(st.agent_food[i], obs.count_scale)
    v["time_sin"] = math.sin(2 * math.pi * tod / D)
    v["time_cos"] = math.cos(2 * math.pi * tod / D)
    flags = int(st.agent_flags[i])
    v["on_shift"] = float(bool(flags & Flag.ON_SHIFT))
    for s in Shift:
        v[f"shift_{s.name.lower()}"] = float(st.agent_shift[i] == s)
    job = cfg.world.jobs[st.agent_job[i]]
    stagger = int(st.agent_roster[i, Roster.PATTERN]) * job.stagger_ticks  # its shift pattern
    v["shift_start_in"] = ((job.start + stagger - tod) % D) / D
    v["shift_end_in"] = ((job.end + stagger - tod) % D) / D
    v["attendance_ratio"] = float(np.mean(st.agent_attendance[i]))
    v["lateness"] = squash(st.agent_lateness[i], obs.count_scale)
    v["wages_today"] = squash(to_units(st.agent_wages_today[i]), obs.money_scale)
    v["wages_withheld"] = squash(to_units(st.agent_withheld[i]), obs.money_scale)
    v["embedding_slot_norm"] = emb_of[i] / max_slots
    v["ctx_reset"] = float(ctx_reset[i])
    v["episode_progress"] = (ep_len[i] % D) / D
    v["age_days"] = squash((tick - st.agent_born[i]) / D, 7.0)
    v["fainted"] = float(bool(flags & Flag.FAINTED))
    v["possessed"] = float(bool(flags & Flag.POSSESSED))
    v["exit_pending"] = float(bool(flags & Flag.EXIT_PENDING))
    v["option_active"] = float(st.agent_option[i] != 0)
    for g in Goal:
        v[f"goal_{g.name.lower()}"] = float(st.agent_goal[i] == g)
    for a in Action:
        if a >= 0:
            v[f"last_{a.name.lower()}"] = float(st.agent_action[i] == a)
    v["last_action_ok"] = float(st.agent_action_ok[i] != 0)
    v["reservation_active"] = float(st.agent_resv[i] == 2)
    v["in_queue"] = float(st.agent_resv[i] == 1)
    aff = st.agent_aff[i]
    for k, a in enumerate(cfg.world.affordances):
        v[f"aff_{a.id}"] = float(aff == k)
    v["aff_running"] = float(aff >= 0)
    v["aff_progress"] = 0.0
    if aff >= 0:
        dur = cfg.world.affordances[aff].duration
        v["aff_progress"] = min(1.0, max(0.0, 1 - (st.agent_aff_end[i] - tick) / dur))
    for p, name in enumerate(("extroversion", "forgiveness", "ambition")):
        v[f"personality_{name}"] = st.agent_personality[i, p]
    d = st.agent_district[i]
    v["power_on"] = float(st.district_power[d])
    v["water_on"] = float(st.district_water[d])
    for name in ("groceries", "cafe_meal", "shower"):
        p = PRICES.index(name)
        base = st.price_base[p]
        v[f"price_{name}"] = min(st.price_now[p] / base, 4) / 4 if base > 0 else 0.0
    ties = [k for k in range(st.rel_other.shape[1]) if st.rel_other[i, k] >= 0]
    v["rivalry_max"] = max([st.rel_riv[i, k] for k in ties], default=0.0)
    avoid = cfg.world.relationships.avoid_threshold
    v["rivalry_avoid_frac"] = sum(st.rel_riv[i, k] >= avoid for k in ties) / st.rel_other.shape[1]
    v["meet_active"] = float(st.agent_meet_bld[i] >= 0 and tick < st.agent_meet_until[i])
    x, y = int(st.agent_x[i]), int(st.agent_y[i])
    targets = {"home": st.agent_home[i], "work": st.agent_work[i],
               "grocer": st.district_grocer[d], "cafe": st.district_cafe[d]}
    for lm in LANDMARKS:
        b = int(targets[lm])
        cx, cy = (b % bw) * PERIOD + 4, (b // bw) * PERIOD + 4
        dist = math.hypot(cx - x, cy - y)
        v[f"{lm}_dx"] = (cx - x) / dist if dist else 0.0
        v[f"{lm}_dy"] = (cy - y) / dist if dist else 0.0
        v[f"{lm}_dist"] = squash(dist, obs.distance_scale)
        v[f"{lm}_inside"] = float(building_at(x, y, bw) == b)
        sdx, sdy = next_step(x, y, b, 3, 3, bw)
        v[f"{lm}_step_n"], v[f"{lm}_step_e"] = float(sdy < 0), float(sdx > 0)
        v[f"{lm}_step_s"], v[f"{lm}_step_w"] = float(sdy > 0), float(sdx < 0)
    grid, summary = local_map(cfg, layout, st, i)
    v.update(summary)
    v.update(social(cfg, layout, st, i, emb_of)[0])
    return v, grid


def local_map(cfg, layout, st, i):
    """(C, W, W) map and the four window summaries."""
    obs = cfg.rl.observations
    W, r, cap = layout.window, layout.window // 2, obs.agents_per_tile
    H, X = st.tile_kind.shape
    bw = (X - 1) // PERIOD
    ax, ay = int(st.agent_x[i]), int(st.agent_y[i])
    alive = np.flatnonzero(st.agent_alive)
    objects = {(int(st.obj_x[o]), int(st.obj_y[o])): o for o in np.flatnonzero(st.obj_type >= 0)}
    grid = np.zeros(layout.map_shape, np.float32)
    n_agents = n_objects = n_busy = 0
    nearest = None
    for wy in range(W):
        for wx in range(W):
            x, y = ax - r + wx, ay - r + wy
            if not (0 <= x < X and 0 <= y < H):
                continue
            val = dict.fromkeys(layout.map_channels, 0.0)
            kind = st.tile_kind[y, x]
            val["walkable"] = float(kind in WALKABLE)
            val["door"] = float(kind == TILE.DOOR)
            others = [a for a in alive if a != i and st.agent_x[a] == x and st.agent_y[a] == y]
            if others:
                n_agents += min(len(others), cap)
                d = math.hypot(wx - r, wy - r)
                nearest = d if nearest is None else min(nearest, d)
            val["agents"] = min(len(others), cap) / cap
            friends = rivals = 0.0
            for a in others:
                for k in range(st.rel_other.shape[1]):
                    if st.rel_other[i, k] == a:
                        friends += max(0.0, st.rel_trust[i, k])
                        rivals += st.rel_riv[i, k]
                        break
            val["friends"], val["rivals"] = min(friends, 1.0), min(rivals, 1.0)
            o = objects.get((x, y))
            if o is not None:
                t = int(st.obj_type[o])
                n_objects += 1
                val["objects"] = 1.0
                val[f"obj_{OBJ_NAMES[t]}"] = 1.0
                busy = st.obj_holder[o] >= 0 or st.obj_q_len[o] > 0
                n_busy += busy
                val["busy"] = float(busy)
                val["queue"] = min(st.obj_q_len[o], cap) / cap
                b = building_at(x, y, bw)
                dist = st.bld_district[b]
                aff = first_aff(cfg, t)
                val["unusable"] = float(
                    st.obj_disabled[o] != 0 or aff is None
                    or (needs_utility(aff, "power_on") and not st.district_power[dist])
                    or (needs_utility(aff, "water_on") and not st.district_water[dist]))
                val["own"] = float(o == st.agent_bed[i] if t == OBJ.BED else b == st.agent_home[i])
            for c, name in enumerate(layout.map_channels):
                grid[c, wy, wx] = val[name]
    summary = {"neighbor_agent_ratio": min(1.0, n_agents / (W * W - 1)),
               "neighbor_object_ratio": n_objects / (W * W),
               "busy_object_ratio": n_busy / (W * W),
               "nearest_agent_closeness": 0.0 if nearest is None
               else 1.0 - nearest / (r * math.sqrt(2))}
    return grid, summary


def social(cfg, layout, st, i, emb_of):
    """Social features by name, and the embedding ids of the chosen partners."""
    obs = cfg.rl.observations
    r = layout.window // 2
    ties = [k for k in range(st.rel_other.shape[1]) if st.rel_other[i, k] >= 0]
    friends = sorted((k for k in ties if st.rel_trust[i, k] + st.rel_fam[i, k] > 0),
                     key=lambda k: (-(st.rel_trust[i, k] + st.rel_fam[i, k]), k))
    friends = friends[:obs.top_friends]
    rivals = sorted((k for k in ties if k not in friends and st.rel_riv[i, k] > 0),
                    key=lambda k: (-st.rel_riv[i, k], k))[:obs.top_rivals]
    v, ids = {}, []
    slots = obs.top_friends + obs.top_rivals
    chosen = friends + rivals
    for s in range(slots):
        for f in ("filled", "trust", "familiarity", "rivalry", "dist", "visible"):
            v[f"social{s}_{f}"] = 0.0
    for s, k in enumerate(chosen):
        o = st.rel_other[i, k]
        dx, dy = int(st.agent_x[o]) - int(st.agent_x[i]), int(st.agent_y[o]) - int(st.agent_y[i])
        v[f"social{s}_filled"] = 1.0
        v[f"social{s}_trust"] = st.rel_trust[i, k]
        v[f"social{s}_familiarity"] = st.rel_fam[i, k]
        v[f"social{s}_rivalry"] = st.rel_riv[i, k]
        v[f"social{s}_dist"] = squash(math.hypot(dx, dy), obs.distance_scale)
        v[f"social{s}_visible"] = float(abs(dx) <= r and abs(dy) <= r)
        ids.append(int(emb_of[o]))
    if slots:
        trust = [st.rel_trust[i, k] for k in chosen]
        riv = [st.rel_riv[i, k] for k in chosen]
        v["social_trust_mean"] = float(np.mean(trust)) if chosen else 0.0
        v["social_trust_max"] = max(trust, default=0.0)
        v["social_rivalry_mean"] = float(np.mean(riv)) if chosen else 0.0
        v["social_rivalry_max"] = max(riv, default=0.0)
    return v, ids + [-1] * (slots - len(ids))


def mask(cfg, st, i):
    """Set of allowed Action codes for slot i (the world's rules, restated)."""
    flags = int(st.agent_flags[i])
    if not st.agent_alive[i] or flags & Flag.POSSESSED or flags & Flag.FAINTED:
        return {Action.WAIT}
    if st.agent_aff[i] >= 0:
        return {Action.WAIT, Action.CANCEL}
    H, X = st.tile_kind.shape
    x, y = int(st.agent_x[i]), int(st.agent_y[i])
    ok = {Action.WAIT, Action.GO_SLEEP, Action.GO_WORK, Action.GO_SOCIAL, Action.GO_HOME}
    price = {p: st.price_now[PRICES.index(p)] for p in PRICES}
    wallet = st.agent_wallet[i]
    meal = shop_price(cfg, st, i, "district_cafe", OBJ.COUNTER)
    groceries = shop_price(cfg, st, i, "district_grocer", OBJ.TILL)
    if st.agent_food[i] >= 1 or wallet >= min(meal, groceries):
        ok.add(Action.GO_EAT)
    if wallet >= price["shower"]:
        ok.add(Action.GO_WASH)
    if wallet >= groceries:
        ok.add(Action.GO_SHOP)
    if st.agent_option[i] or st.agent_resv[i]:
        ok.add(Action.CANCEL)
    if st.agent_option[i]:
        return ok
    for a, (dx, dy) in ((Action.MOVE_N, (0, -1)), (Action.MOVE_E, (1, 0)),
                        (Action.MOVE_S, (0, 1)), (Action.MOVE_W, (-1, 0))):
        if 0 <= x + dx < X and 0 <= y + dy < H and st.tile_kind[y + dy, x + dx] in WALKABLE:
            ok.add(a)
    avoid = cfg.world.relationships.avoid_threshold
    for j in range(st.agent_alive.size):
        if st.agent_alive[j] and j != i and abs(int(st.agent_x[j]) - x) <= 1 \
                and abs(int(st.agent_y[j]) - y) <= 1:
            ties = [k for k in range(st.rel_other.shape[1]) if st.rel_other[i, k] == j]
            if not ties or st.rel_riv[i, ties[0]] < avoid:
                ok.add(Action.TALK)
    if _interact(cfg, st, i, x, y, price):
        ok.add(Action.INTERACT)
    return ok


def shop_price(cfg, st, i, shops, otype):
    """Least price of ``otype``'s affordance at agent i's district shop or its
    neighbour's (east, else west, south, north), among shops with a usable object
    holding the stock for one use; infinite if neither can serve."""
    aff = first_aff(cfg, otype)
    if aff is None:
        return math.inf
    table = getattr(st, shops)
    n = table.size
    dw = ((st.tile_kind.shape[1] - 1) // PERIOD) // cfg.world.town.district_side
    d = int(st.agent_district[i])
    col = d % dw
    nxt = next(e for e, ok in ((d + 1, col + 1 < dw and d + 1 < n), (d - 1, col > 0),
                               (d + dw, d + dw < n), (d - dw, d >= dw), (d, True)) if ok)
    best = math.inf
    for b in (int(table[d]), int(table[nxt])):
        serves = any(st.obj_type[o] == otype and st.obj_stock[o] >= aff.uses_stock
                     and not st.obj_disabled[o] and _utilities_on(st, o, aff)
                     for o in range(b * 9, b * 9 + 9))
        if serves:
            charged = (int(st.price_now[PRICES.index(aff.price)]) * int(st.shop_markup[b])
                       + 500) // 1000
            best = min(best, charged)
    return best


def _utilities_on(st, o, aff):
    d = st.bld_district[o // 9]
    return not ((needs_utility(aff, "power_on") and not st.district_power[d])
                or (needs_utility(aff, "water_on") and not st.district_water[d]))


OPS = {0: lambda a, b: a == b, 1: lambda a, b: a != b, 2: lambda a, b: a < b,
       3: lambda a, b: a <= b, 4: lambda a, b: a > b, 5: lambda a, b: a >= b}


def _conditions_hold(st, i, o, aff):
    d = st.bld_district[o // 9]
    values = {"agent.food": st.agent_food[i], "agent.wallet": to_units(st.agent_wallet[i]),
              "stock": st.obj_stock[o], "power_on": st.district_power[d],
              "water_on": st.district_water[d], "queue_length": st.obj_q_len[o]}
    for n, name in enumerate(NEEDS):
        values[f"agent.{name}"] = st.agent_needs[i, n]
    return all(OPS[op](values[var], val) for var, op, val in parse_preconds(aff.preconds))


def _interact(cfg, st, i, x, y, price):
    here = [o for o in np.flatnonzero(st.obj_type >= 0) if st.obj_ax[o] == x and st.obj_ay[o] == y]
    if not here:
        return False
    o = int(here[0])
    aff = first_aff(cfg, int(st.obj_type[o]))
    if aff is None:
        return False
    mine = st.agent_obj[i] == o
    if mine and st.agent_resv[i] == 1:
        return True
    if not mine or st.agent_resv[i] == 0:
        if st.agent_cool_obj[i] == o and st.clock[0] + 1 < st.agent_cool_until[i]:
            return False
        if st.obj_holder[o] >= 0 or st.obj_q_len[o] > 0:
            return True
    if st.obj_disabled[o] or not _conditions_hold(st, i, o, aff):
        return False
    charged = (int(price[aff.price]) * int(st.shop_markup[o // 9]) + 500) // 1000  # shop markup
    return (st.agent_wallet[i] >= charged and st.agent_food[i] >= aff.uses_food
            and st.obj_stock[o] >= aff.uses_stock)
