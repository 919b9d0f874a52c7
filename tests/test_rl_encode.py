"""The compiled observation encoder and masks against the slow name-keyed reference."""

from __future__ import annotations

import numpy as np
import pytest
from naive import rl_obs as naive
from rl_town import make_state, relink

from townlet.config import default_config, with_agents
from townlet.config.money import to_minor
from townlet.rl.encode import encode
from townlet.rl.layout import VARIANTS, build_layout
from townlet.rl.masks import action_masks
from townlet.rl.statics import build_statics
from townlet.rl.window import new_window_scratch
from townlet.world.actions import N_ACTIONS, Action, Flag
from townlet.world.geometry import TILE
from townlet.world.state import Price, kernel_state
from townlet.world.town import OBJ

N = 60


def scrambled(seed: int):
    """A small town in an arbitrary but consistent state (dead slots, ties, queues...)."""
    cfg = with_agents(default_config(), N)
    st, kp, _ = make_state(cfg, seed)
    rng = np.random.default_rng(seed)
    n = st.agent_alive.size
    walk = np.argwhere(np.isin(st.tile_kind, [TILE.STREET, TILE.FLOOR, TILE.DOOR]))
    # crowd a corner so windows cross the grid edge, the rest anywhere walkable
    spots = walk[rng.integers(0, len(walk), n)]
    spots[: n // 6] = walk[np.argsort(walk.sum(1))[: n // 6]]
    spots[n // 6: n // 6 + 7] = spots[n - 1]  # a crowd of 8 on one tile
    st.agent_y[:], st.agent_x[:] = spots[:, 0], spots[:, 1]
    objs = np.flatnonzero(st.obj_type >= 0)
    # a few agents stand on access tiles of objects (so INTERACT gets exercised),
    # every other one at an object of its own home
    for i in range(n // 3, n // 3 + 12):
        o = objs[rng.integers(len(objs))]
        if i % 2:
            o = int(st.agent_bed[i]) - int(st.agent_bed[i]) % 9 + rng.choice([2, 5, 6])
        st.agent_x[i], st.agent_y[i] = st.obj_ax[o], st.obj_ay[o]
    st.agent_alive[rng.random(n) < 0.1] = 0
    st.agent_needs[:] = rng.random(st.agent_needs.shape)
    st.agent_wallet[:] = [to_minor(v) for v in rng.choice([0.0, 0.03, 0.7, 5.0, 40.0], n)]
    st.agent_food[:] = rng.integers(0, 4, n)
    st.agent_flags[:] = rng.choice([0, Flag.ON_SHIFT, Flag.POSSESSED, Flag.FAINTED,
                                    Flag.EXIT_PENDING | Flag.ON_SHIFT, Flag.TELEPORTED], n)
    st.agent_shift[:] = rng.integers(0, 6, n)
    st.agent_goal[:] = rng.integers(0, 9, n)
    st.agent_option[:] = rng.integers(0, 2, n)
    st.agent_action[:] = rng.integers(0, N_ACTIONS, n)
    st.agent_action_ok[:] = rng.integers(0, 2, n)
    st.agent_attendance[:] = rng.random(st.agent_attendance.shape)
    st.agent_lateness[:] = rng.integers(0, 9, n)
    st.agent_wages_today[:] = rng.integers(0, to_minor(3), n)
    st.agent_withheld[:] = rng.integers(0, to_minor(1), n)
    st.agent_personality[:] = rng.uniform(-1, 1, (n, 3))
    st.agent_born[:] = rng.integers(0, 5000, n)
    st.clock[0] = 7000 + seed
    st.agent_meet_bld[::7] = 3
    st.agent_meet_until[::7] = 7100
    held = rng.choice(objs, 10, replace=False)
    st.obj_holder[held[:5]] = rng.integers(0, n, 5)
    st.obj_q_len[held[3:]] = rng.integers(1, 7, 7)
    st.obj_disabled[objs[::13]] = 1
    st.obj_stock[:] = rng.integers(0, 8, st.obj_stock.size)
    st.shop_markup[:] = rng.integers(700, 1600, st.shop_markup.size)  # shops charge their own
    st.district_power[0] = 0
    for i in range(n // 3, n // 3 + 12, 3):  # some of them hold or queue for that object
        o = int(np.flatnonzero((st.obj_ax == st.agent_x[i]) & (st.obj_ay == st.agent_y[i]))[0])
        st.agent_obj[i], st.agent_resv[i] = o, 1 + (i % 2)
    busy = rng.random(n) < 0.2
    st.agent_aff[busy] = rng.integers(0, len(cfg.world.affordances), busy.sum())
    st.agent_aff_end[busy] = st.clock[0] + rng.integers(0, 30, busy.sum())
    free = np.arange(n // 3, n // 3 + 12, 2)  # some at objects are free to act and can pay
    st.agent_option[free] = 0
    st.agent_aff[free] = -1
    st.agent_flags[free] = 0
    st.agent_wallet[free] = to_minor(5.0)
    st.agent_food[free] = 2
    st.agent_cool_obj[n // 3 + 1] = st.agent_obj[n // 3 + 1]
    st.agent_cool_until[n // 3 + 1] = st.clock[0] + 5
    for i in range(n):
        for k in range(rng.integers(0, st.rel_other.shape[1] + 1)):
            st.rel_other[i, k] = rng.integers(0, n)
            st.rel_trust[i, k] = rng.uniform(-1, 1)
            st.rel_fam[i, k] = rng.random()
            st.rel_riv[i, k] = rng.random() * (rng.random() < 0.6)
    st.rel_other[st.rel_other >= 0] = np.where(st.agent_alive[st.rel_other[st.rel_other >= 0]],
                                               st.rel_other[st.rel_other >= 0], -1)
    relink(st)
    return cfg, st, kp


def run(cfg, st, kp, variant):
    layout = build_layout(cfg, variant)
    n = st.agent_alive.size
    sx = build_statics(cfg, layout, st._asdict(), 2 * n)
    emb_of = np.where(st.agent_alive, (np.arange(n) * 7) % (2 * n), -1).astype(np.int32)
    ep_len = (np.arange(n) * 37).astype(np.int32)
    ctx = (np.arange(n) % 5 == 0).astype(np.uint8)
    m = np.full((n,) + layout.map_shape, 9.0, np.float32)
    f = np.full((n, layout.n_features), 9.0, np.float32)
    ids = np.full((n, 1 + layout.social_slots), 9, np.int32)
    lm_key = np.full(n, -1, np.int64)
    encode(kernel_state(st), sx, kp, emb_of, ep_len, ctx, m, f, ids, lm_key,
           new_window_scratch(sx.map, n))
    return layout, (emb_of, ep_len, ctx), m, f, ids, sx


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", [1, 2])
def test_encoder_matches_reference(variant, seed):
    cfg, st, kp = scrambled(seed)
    layout, (emb_of, ep_len, ctx), m, f, ids, _ = run(cfg, st, kp, variant)
    n = st.agent_alive.size
    for i in range(n):
        if not st.agent_alive[i]:
            assert not f[i].any() and not m[i].any() and (ids[i] == -1).all()
            continue
        want, grid = naive.features(cfg, layout, st, i, emb_of, ep_len, ctx, 2 * n)
        assert set(want) == set(layout.feature_names)
        got = {name: f[i, k] for k, name in enumerate(layout.feature_names)}
        bad = {k: (got[k], want[k]) for k in want if not np.isclose(got[k], want[k], atol=1e-5)}
        assert not bad, f"agent {i}: {bad}"
        np.testing.assert_allclose(m[i], grid, atol=1e-6, err_msg=f"map of agent {i}")
        _, want_ids = naive.social(cfg, layout, st, i, emb_of)
        assert ids[i].tolist() == [emb_of[i]] + want_ids


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_masks_match_reference(seed):
    cfg, st, kp = scrambled(seed)
    layout = build_layout(cfg)
    n = st.agent_alive.size
    sx = build_statics(cfg, layout, st._asdict(), 2 * n)
    mask = np.zeros((n, N_ACTIONS), bool)
    controlled = np.zeros(n, bool)
    action_masks(kernel_state(st), sx, kp, mask, controlled)
    interact = 0
    for i in range(n):
        assert set(np.flatnonzero(mask[i])) == naive.mask(cfg, st, i), f"agent {i}"
        expect = bool(st.agent_alive[i]) and not st.agent_flags[i] & Flag.POSSESSED
        assert controlled[i] == expect
        interact += mask[i, Action.INTERACT]
    assert mask[:, Action.WAIT].all()
    assert interact > 0


def test_option_masks_charge_what_the_shops_charge():
    """GO_EAT and GO_SHOP are offered by the price the shop would charge (town price x
    markup, at the district's shop or the next district's), not the town price."""
    cfg = with_agents(default_config(), N)
    st, kp, _ = make_state(cfg, 1)
    layout = build_layout(cfg)
    n = st.agent_alive.size
    sx = build_statics(cfg, layout, st._asdict(), 2 * n)
    st.agent_alive[:] = 1
    st.agent_flags[:] = 0
    st.agent_option[:] = 0
    st.agent_aff[:] = -1
    st.agent_food[:] = 0
    st.obj_stock[:] = 50
    st.shop_markup[:] = 1500  # every shop busy: half again the town price
    meal = int(st.price_now[Price.CAFE_MEAL])
    groceries = int(st.price_now[Price.GROCERIES])
    dear_meal, dear_groceries = (meal * 1500 + 500) // 1000, (groceries * 1500 + 500) // 1000
    mask = np.zeros((n, N_ACTIONS), bool)
    controlled = np.zeros(n, bool)

    def offered(wallet):
        st.agent_wallet[:] = wallet
        action_masks(kernel_state(st), sx, kp, mask, controlled)
        return mask[:, Action.GO_EAT].all(), mask[:, Action.GO_SHOP].all()

    assert meal < groceries
    assert offered(meal) == (False, False)  # the town price no longer buys a meal
    assert offered(dear_meal) == (True, False)
    assert offered(groceries) == (True, False)
    assert offered(dear_groceries) == (True, True)
    cafes = np.concatenate([np.arange(b * 9, b * 9 + 9) for b in st.district_cafe])
    st.obj_stock[cafes] = 0  # every cafe sold out: a meal is groceries now
    assert offered(dear_meal) == (False, False)
    st.agent_food[:] = 1
    assert offered(0) == (True, False)  # food at home needs no shop


def test_channels_see_the_right_things():
    """Hand-placed checks: own bed, a housemate, a held object, the grid edge."""
    cfg = with_agents(default_config(), N)
    st, kp, _ = make_state(cfg)
    fridge = int(np.flatnonzero((st.obj_type == OBJ.FRIDGE)
                                & (st.obj_x // 8 == st.agent_x[0] // 8)
                                & (st.obj_y // 8 == st.agent_y[0] // 8))[0])
    st.obj_holder[fridge] = 1
    layout, _, m, f, _, _ = run(cfg, st, kp, "full")
    r = layout.window // 2
    ch = layout.channel_index

    def at(o):
        return r + st.obj_y[o] - st.agent_y[0], r + st.obj_x[o] - st.agent_x[0]

    bed, other_bed = int(st.agent_bed[0]), int(st.agent_bed[1])
    assert m[0, ch("own"), at(bed)[0], at(bed)[1]] == 1
    assert m[0, ch("obj_bed"), at(bed)[0], at(bed)[1]] == 1
    assert m[0, ch("own"), at(other_bed)[0], at(other_bed)[1]] == 0
    assert m[0, ch("busy"), at(fridge)[0], at(fridge)[1]] == 1
    assert m[0, ch("agents"), r, r + 1] == 1 / 4  # housemate 1 stands east of agent 0
    assert m[0, ch("agents"), r, r] == 0  # the observer is not counted
    st.agent_x[0], st.agent_y[0] = 0, 0  # corner of the grid
    relink(st)
    _, _, m, f, _, _ = run(cfg, st, kp, "full")
    assert not m[0, :, :r, :].any() and not m[0, :, :, :r].any()
    assert m[0, ch("walkable"), r, r] == 1
    assert f[0, layout.feature_index("home_inside")] == 0
    assert build_layout(cfg, "compact").map_shape == (4, 5, 5)


def test_landmark_cache_and_map_scratch_follow_moves():
    """Caches and the map's per-tick grids carry nothing stale into the next encode."""
    cfg, st, kp = scrambled(4)
    layout = build_layout(cfg, "compact")
    n = st.agent_alive.size
    sx = build_statics(cfg, layout, st._asdict(), 2 * n)
    key = np.full(n, -1, np.int64)
    emb_of, ep_len, ctx = np.arange(n, dtype=np.int32), np.zeros(n, np.int32), np.zeros(n, np.uint8)
    m = np.zeros((n,) + layout.map_shape, np.float32)
    f = np.zeros((n, layout.n_features), np.float32)
    ids = np.zeros((n, 1 + layout.social_slots), np.int32)
    ws = new_window_scratch(sx.map, n)
    encode(kernel_state(st), sx, kp, emb_of, ep_len, ctx, m, f, ids, key, ws)
    walk = np.argwhere(st.tile_kind == TILE.STREET)
    st.agent_y[::3], st.agent_x[::3] = walk[: len(st.agent_x[::3])].T
    st.agent_alive[1::7] = 0  # some leave: their tiles empty
    st.obj_holder[:] = -1  # every object freed: no busy left behind
    st.obj_q_len[:] = 0
    relink(st)
    encode(kernel_state(st), sx, kp, emb_of, ep_len, ctx, m, f, ids, key, ws)
    assert not ws.changed.any()  # every mark cleared for the next encode
    lo, hi = layout.blocks["landmarks"]
    for i in np.flatnonzero(st.agent_alive):
        want, grid = naive.features(cfg, layout, st, i, emb_of, ep_len, ctx, 2 * n)
        np.testing.assert_allclose(f[i, lo:hi], [want[k] for k in layout.feature_names[lo:hi]],
                                   atol=1e-6)
        np.testing.assert_allclose(m[i], grid, atol=1e-6, err_msg=f"map of agent {i}")
