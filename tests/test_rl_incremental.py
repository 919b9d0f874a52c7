"""The env draws each step's observations on top of the last (maps, and feature rows
whose landmarks did not change): after every step they equal observations encoded
from scratch into fresh arrays, through moves, deaths, newcomers and teleports."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_rl_env import config, random_actions
from townlet.rl import TownletVectorEnv
from townlet.rl.encode import encode
from townlet.rl.window import new_window_scratch


def _from_scratch(env: TownletVectorEnv) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, lay = env.num_envs, env.layout
    out_map = np.zeros((n, *lay.map_shape), np.float32)
    feat = np.zeros((n, lay.n_features), np.float32)
    ids = np.zeros((n, 1 + lay.social_slots), np.int32)
    encode(env._state(), env._statics, env._kp, env.track.emb_of, env.track.ep_len,
           env._out.ctx_reset, out_map, feat, ids, np.full(n, -1, np.int64), new_window_scratch(env._statics.map, n))
    return out_map, feat, ids


@pytest.mark.parametrize("variant", ["compact", "hybrid"])
def test_incremental_observations_equal_a_fresh_encode(variant):
    cfg = config(world={"lifecycle": {"death_after_ticks": 5, "respawn_delay_ticks": 2}})
    env = TownletVectorEnv(cfg, variant=variant)
    obs, infos = env.reset(seed=4)
    rng = np.random.default_rng(7)
    newcomers = 0
    for step in range(90):
        if step == 30:
            x, y = env.world.view("agent_x")[5], env.world.view("agent_y")[5]
            env.world.teleport(2, int(x), int(y))
        if step == 32:  # fainting needs a first half-hour awake
            for agent in range(4):
                env.world.set_need(agent, "hunger", 0.0)
        obs, _r, _te, _tr, infos = env.step(random_actions(rng, infos["action_mask"]))
        newcomers += int(infos["new_agent"].sum())
        m, f, ids = _from_scratch(env)
        np.testing.assert_array_equal(obs["features"], f)
        np.testing.assert_array_equal(obs["embedding_ids"], ids)
        np.testing.assert_array_equal(obs["map"], m)
    assert newcomers >= 4
