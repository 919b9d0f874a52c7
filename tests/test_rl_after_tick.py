"""``townlet.rl.after_tick``: one compiled call per step over one struct of buffers,
whose ``infos`` flags always describe the world the observations were drawn from."""

from __future__ import annotations

import numpy as np
from numba.core import types

from tests.test_rl_env import config, random_actions
from townlet.rl import TownletVectorEnv
from townlet.rl.after_tick import StepBuffersType, after_tick
from townlet.world.actions import Flag


def _flags_match_the_world(env: TownletVectorEnv, infos: dict) -> None:
    w = env.world
    np.testing.assert_array_equal(infos["alive"], w.view("agent_alive") != 0)
    np.testing.assert_array_equal(infos["possessed"],
                                  (w.view("agent_flags") & Flag.POSSESSED) != 0)
    np.testing.assert_array_equal(infos["ctx_reset"], env._out.ctx_reset != 0)
    np.testing.assert_array_equal(infos["_episode"], infos["terminated_or_truncated"])


def test_a_step_dispatches_three_arguments_and_no_named_tuple():
    """Typing a named tuple of arrays happens in Python on every call (~2-3 µs each at
    1k agents, ~11 µs per step for the five the env passed); a StructRef is typed once."""
    env = TownletVectorEnv(config(), variant="compact")
    _obs, infos = env.reset(seed=3)
    env.step(random_actions(np.random.default_rng(0), infos["action_mask"]))
    assert len(after_tick.signatures) == 1
    sig = after_tick.signatures[0]
    assert len(sig) == 3
    assert isinstance(sig[2], StepBuffersType)
    assert not any(isinstance(t, types.BaseTuple) for t in sig)


def test_infos_flags_follow_the_world_through_steps_possession_and_a_state_load():
    env = TownletVectorEnv(config(), copy=True)
    _obs, infos = env.reset(seed=5)
    rng = np.random.default_rng(2)
    for step in range(40):
        if step == 10:
            env.world.possess(3)
            env.world.kill(7)
        if step == 20:
            env.world.release(3)
        _o, _r, term, trunc, infos = env.step(random_actions(rng, infos["action_mask"]))
        infos["terminated_or_truncated"] = term | trunc
        _flags_match_the_world(env, infos)
        if step == 10:
            assert infos["possessed"][3] and not infos["alive"][7]
    saved = env.state_sections()
    other = TownletVectorEnv(config(), copy=True)
    other.reset(seed=99)
    other.world.kill(0)
    other.step(np.zeros(other.num_envs, np.int64))
    _obs, infos = other.load_state_sections(saved)
    infos["terminated_or_truncated"] = np.zeros(other.num_envs, bool)
    _flags_match_the_world(other, infos)
    assert infos["alive"][0] == (saved["agent_alive"][0] != 0)
