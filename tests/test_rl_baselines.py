"""The default reward tells policies apart on the default town, and the scripted
policy is public: as the pass-through action ``Action.SCRIPTED`` and as the
action-space teacher ``env.scripted_actions()``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="needs the rl extra")

from townlet.config import default_config, with_agents
from townlet.rl import TownletVectorEnv
from townlet.rl.baselines import BASELINES, baseline
from townlet.train.score import score
from townlet.world import World
from townlet.world.actions import Action

AGENTS, TICKS = 96, 1500


@pytest.fixture(scope="module")
def scores():
    env = TownletVectorEnv(with_agents(default_config(), AGENTS), variant="compact")
    return {name: score(env, baseline(name, env, seed=0), TICKS, seed=0, name=name)
            for name in BASELINES}


def test_default_reward_orders_random_needs_scripted(scores):
    r = {name: s.mean_return for name, s in scores.items()}
    assert r["random"] < r["needs"] < r["scripted"], r
    assert r["talk"] < r["needs"], r
    assert scores["scripted"].deaths <= scores["needs"].deaths < scores["random"].deaths


def test_no_clip_binds_for_the_scripted_policy(scores):
    assert scores["scripted"].clipped_share == 0.0


def test_scripted_pass_through_is_the_world_controller():
    cfg = with_agents(default_config(), 24)
    env = TownletVectorEnv(cfg, variant="compact")
    env.reset(seed=5)
    world = World(cfg, seed=5)
    for _ in range(60):
        _, _, _, _, infos = env.step(np.full(24, Action.SCRIPTED, np.int64))
        world.step()
    assert env.world.state_hash() == world.state_hash()
    assert infos["acted"].all()


def test_scripted_actions_are_allowed_options_and_keep_agents_alive():
    env = TownletVectorEnv(with_agents(default_config(), 24), variant="compact")
    with pytest.raises(RuntimeError, match="reset"):
        env.scripted_actions()
    _, infos = env.reset(seed=2)
    seen = set()
    for _ in range(400):
        acts = env.scripted_actions()
        assert infos["action_mask"][np.arange(24), acts].all()
        seen.update(acts.tolist())
        _, _, term, _, infos = env.step(acts)
        assert not term.any()
    assert {Action.WAIT, Action.GO_WORK} <= seen
    with pytest.raises(ValueError, match="unknown baseline 'nope'"):
        baseline("nope", env)
