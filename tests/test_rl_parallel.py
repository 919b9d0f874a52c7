"""The PettingZoo wrapper passes PettingZoo's own API and seed tests, renames
agents across episodes and refuses bad input."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

pytest.importorskip("pettingzoo", reason="needs the rl extra")
from pettingzoo.test import parallel_api_test, parallel_seed_test

from townlet.config import TownletConfig, default_config, with_agents
from townlet.rl import parallel_env
from townlet.world.actions import N_ACTIONS, Action

N = 8


def config(world=None, **rl) -> TownletConfig:
    raw = msgspec.to_builtins(with_agents(default_config(), N))
    raw["rl"] = rl
    for section, values in (world or {}).items():
        raw["world"][section].update(values)
    return msgspec.convert(raw, TownletConfig)


def test_parallel_api_test():
    parallel_api_test(parallel_env(config(truncate_ticks=50), seed=0), num_cycles=200)


def test_parallel_api_test_with_deaths_and_newcomers():
    cfg = config(world={"lifecycle": {"death_after_ticks": 1, "respawn_delay_ticks": 2},
                        "needs": {"hunger": {"decay": 0.05}}})
    env = parallel_env(cfg, variant="compact", seed=1)
    parallel_api_test(env, num_cycles=150)
    assert any("#" in a for a in env.possible_agents)


def test_parallel_seed_test():
    parallel_seed_test(lambda: parallel_env(config(truncate_ticks=40), variant="full"),
                       num_cycles=60)


def test_agents_get_new_ids_per_episode_and_possession_is_flagged():
    env = parallel_env(config(truncate_ticks=3), seed=2)
    obs, infos = env.reset(seed=2)
    assert env.agents == [f"agent_{i}" for i in range(N)]
    assert set(obs["agent_0"]) == {"map", "features", "embedding_ids", "action_mask"}
    assert env.observation_space("agent_0").contains(obs["agent_0"])
    env.vec.world.possess(1)
    for _ in range(2):
        obs, _rew, _term, trunc, infos = env.step({a: Action.WAIT for a in env.agents})
    assert infos["agent_1"]["possessed"] and not infos["agent_1"]["controlled"]
    assert obs["agent_1"]["action_mask"].tolist() == [1] + [0] * (N_ACTIONS - 1)
    obs, _rew, _term, trunc, infos = env.step({a: Action.WAIT for a in env.agents})
    assert all(trunc[f"agent_{i}"] for i in range(N))
    assert env.agents == [f"agent_{i}#1" for i in range(N)]
    assert all(f"agent_{i}#1" in obs for i in range(N))


def test_bad_actions_are_refused():
    env = parallel_env(config(), seed=0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="unknown or finished agent 'nobody'"):
        env.step({"nobody": 0})
    with pytest.raises(ValueError, match="must be an int in"):
        env.step({"agent_0": 99})
    with pytest.raises(ValueError, match="must be an int in"):
        env.step({"agent_0": 1.5})
    with pytest.raises(ValueError, match="unknown observation variant"):
        parallel_env(config(), variant="nope")


def test_stepping_after_everyone_is_gone_is_an_error():
    env = parallel_env(config(), seed=0)
    env.reset(seed=0)
    for i in range(N):
        env.vec.world.kill(i)
    _obs, _rew, term, _trunc, _infos = env.step({})
    assert all(term.values()) and env.agents == []
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({})
    np.testing.assert_equal(len(env.reset(seed=0)[0]), N)
