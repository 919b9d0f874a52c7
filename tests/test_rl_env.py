"""TownletVectorEnv on a real town: spaces, episodes, possession, determinism
across processes, snapshots and every bad input."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import msgspec
import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="needs the rl extra")

from townlet.config import TownletConfig, default_config, with_agents
from townlet.rl import TownletVectorEnv
from townlet.rl.rewards import COMPONENTS, END_DEATH, END_REMOVED
from townlet.world.actions import N_ACTIONS, Action

N = 24
C = {name: k for k, name in enumerate(COMPONENTS)}


def config(world=None, **rl) -> TownletConfig:
    raw = msgspec.to_builtins(with_agents(default_config(), N))
    raw["rl"] = rl
    for section, values in (world or {}).items():
        raw["world"][section].update(values)
    return msgspec.convert(raw, TownletConfig)


def random_actions(rng, mask):
    """One uniformly random allowed action per slot."""
    return (rng.random(mask.shape) * mask).argmax(1)


def digest(steps: int, seed: int, variant: str) -> str:
    env = TownletVectorEnv(config(), variant=variant)
    obs, infos = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    h = hashlib.sha256()
    for _ in range(steps):
        obs, rew, term, trunc, infos = env.step(random_actions(rng, infos["action_mask"]))
        for arr in (obs["map"], obs["features"], obs["embedding_ids"], rew, term, trunc,
                    infos["action_mask"], infos["reward_components"]):
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("variant", ["compact", "hybrid", "full"])
def test_observations_stay_in_their_spaces(variant):
    env = TownletVectorEnv(config(), variant=variant, copy=True)
    obs, infos = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    assert infos["new_agent"].all() and infos["ctx_reset"].all()
    assert env.metadata["autoreset_mode"].value == "SameStep"
    rng = np.random.default_rng(0)
    for _ in range(200):
        obs, rew, _term, _trunc, infos = env.step(random_actions(rng, infos["action_mask"]))
        assert env.observation_space.contains(obs)
        assert np.isfinite(rew).all()
        assert infos["action_mask"][:, Action.WAIT].all()
        np.testing.assert_allclose(infos["reward_components"][:, C["total"]], rew)
    assert env.single_action_space.n == N_ACTIONS


def test_deterministic_across_processes():
    here = digest(60, 7, "hybrid")
    assert here == digest(60, 7, "hybrid")
    assert here != digest(60, 8, "hybrid")
    code = ("import sys; sys.path.insert(0, 'tests'); from test_rl_env import digest; "
            "print(digest(60, 7, 'hybrid'))")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, timeout=600)
    assert child.stdout.strip() == here


def test_starvation_death_is_a_terminal_transition_and_a_newcomer_follows():
    cfg = config(world={"lifecycle": {"death_after_ticks": 5, "respawn_delay_ticks": 4}})
    env = TownletVectorEnv(cfg)
    obs, infos = env.reset(seed=3)
    waits = np.zeros(env.num_envs, np.int64)
    for _ in range(31):  # fainting needs a first half-hour awake
        env.step(waits)
    env.world.set_need(0, "hunger", 0.0)
    seen_faint = False
    for _ in range(10):
        obs, rew, term, _trunc, infos = env.step(waits)
        seen_faint |= infos["reward_components"][0, C["faint"]] < 0
        if term[0]:
            break
    assert term[0] and infos["end_kind"][0] == END_DEATH and infos["acted"][0]
    assert rew[0] == cfg.rl.rewards.death_penalty and seen_faint
    assert infos["_episode"][0] and infos["episode"]["l"][0] >= 36
    assert not obs["features"][0].any() and (obs["embedding_ids"][0] == -1).all()
    arrived = False
    for _ in range(6):
        obs, rew, term, _trunc, infos = env.step(waits)
        if infos["new_agent"][0]:
            arrived = True
            break
        assert not infos["controlled"][0] and not infos["acted"][0] and rew[0] == 0
        assert infos["action_mask"][0].tolist() == [True] + [False] * (N_ACTIONS - 1)
    assert arrived and infos["episode_start"][0] and infos["controlled"][0]
    assert obs["embedding_ids"][0, 0] == env.num_envs  # a fresh slot, not the dead agent's
    layout = env.layout
    assert obs["features"][0, layout.feature_index("ctx_reset")] == 1


def test_possessed_agents_leave_policy_control():
    env = TownletVectorEnv(config())
    obs, infos = env.reset(seed=2)
    env.world.possess(3)
    moves = np.full(env.num_envs, Action.WAIT, np.int64)
    obs, _rew, _term, _trunc, infos = env.step(moves)
    assert infos["possessed"][3] and not infos["controlled"][3] and not infos["acted"][3]
    assert infos["action_mask"][3].sum() == 1
    assert obs["features"][3, env.layout.feature_index("possessed")] == 1
    assert obs["features"][3, env.layout.feature_index("ctx_reset")] == 1
    env.world.release(3)
    obs, _rew, _term, _trunc, infos = env.step(moves)
    assert infos["controlled"][3] and not infos["acted"][3]  # chosen while possessed
    obs, _rew, _term, _trunc, infos = env.step(moves)
    assert infos["acted"][3]


def test_teleport_raises_ctx_reset_once():
    env = TownletVectorEnv(config())
    env.reset(seed=4)
    i = env.layout.feature_index("ctx_reset")
    x, y = int(env.world.view("agent_x")[5]), int(env.world.view("agent_y")[5])
    env.world.teleport(5, x, y)
    waits = np.zeros(env.num_envs, np.int64)
    obs, *_ = env.step(waits)
    assert obs["features"][5, i] == 1 and obs["features"][6, i] == 0
    obs, *_ = env.step(waits)
    assert obs["features"][5, i] == 0


def test_options_take_over_until_done():
    env = TownletVectorEnv(config(commit={"enabled": False}))  # tests/test_rl_commit.py: on
    obs, infos = env.reset(seed=5)
    acts = np.full(env.num_envs, Action.GO_WORK, np.int64)
    obs, _rew, _term, _trunc, infos = env.step(acts)
    lay = env.layout
    assert (obs["features"][:, lay.feature_index("option_active")] == 1).all()
    assert (obs["features"][:, lay.feature_index("goal_work")] == 1).all()
    assert not infos["action_mask"][:, Action.MOVE_N].any()  # primitives would be ignored
    assert infos["action_mask"][:, Action.CANCEL].all()


def test_a_working_day_pays_wages_and_punctuality_once():
    env = TownletVectorEnv(config(world={"perturbations": {"events": []}}))
    _obs, infos = env.reset(seed=6)
    day = env.config.world.ticks_per_day
    punctual = np.zeros(env.num_envs)
    wage = np.zeros(env.num_envs)
    for t in range(day):
        tod = (t + 1) % day
        acts = np.where(infos["action_mask"][:, Action.GO_WORK], Action.GO_WORK, Action.WAIT)
        if not 300 <= tod < 1100:
            acts[:] = Action.WAIT
        _obs, _rew, _term, _trunc, infos = env.step(acts)
        punctual += infos["reward_components"][:, C["punctuality"]] > 0
        wage += infos["reward_components"][:, C["wage"]]
    alive = infos["alive"]
    assert (punctual[alive] <= 1).all() and punctual.sum() > 0
    assert wage[alive].max() > 0


def test_truncation_keeps_the_agent_and_restarts_the_episode():
    env = TownletVectorEnv(config(truncate_ticks=5))
    _obs, infos = env.reset(seed=1)
    waits = np.zeros(env.num_envs, np.int64)
    for _ in range(4):
        _obs, _rew, _term, trunc, infos = env.step(waits)
        assert not trunc.any()
    _obs, _rew, _term, trunc, infos = env.step(waits)
    alive = infos["alive"]
    assert trunc[alive].all() and infos["episode_start"][alive].all()
    assert not infos["new_agent"].any() and (infos["episode"]["l"][alive] == 5).all()
    assert (infos["episode_index"][alive] == 1).all()


def test_killing_everyone_ends_the_run():
    env = TownletVectorEnv(config())
    env.reset(seed=1)
    for i in range(env.num_envs):
        env.world.kill(i)
    waits = np.zeros(env.num_envs, np.int64)
    _obs, rew, term, _trunc, infos = env.step(waits)
    assert term.all() and (infos["end_kind"] == END_REMOVED).all() and not rew.any()
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(waits)
    _obs, infos = env.reset()
    assert infos["alive"].all()


def test_snapshot_resume_is_exact():
    env = TownletVectorEnv(config(), copy=True)
    _obs, infos = env.reset(seed=9)
    rng = np.random.default_rng(1)
    for _ in range(30):
        _obs, _rew, _term, _trunc, infos = env.step(random_actions(rng, infos["action_mask"]))
    saved = env.state_sections()
    plan = [random_actions(rng, infos["action_mask"]) for _ in range(40)]

    def run(e):
        out = []
        for a in plan:
            o, r, te, _tr, _inf = e.step(np.where(inf_mask(e)[np.arange(len(a)), a], a, 0))
            out.append((o["features"].copy(), o["map"].copy(), r.copy(), te.copy()))
        return out

    def inf_mask(e):
        return e._mask

    first = run(env)
    other = TownletVectorEnv(config(), copy=True)
    _obs2, _infos2 = other.load_state_sections(saved)
    second = run(other)
    for a, b in zip(first, second):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    bad = dict(saved)
    bad["rl_emb_of"] = bad["rl_emb_of"][:-1]
    with pytest.raises(ValueError, match="rl_emb_of"):
        other.load_state_sections(bad)


def test_bad_input_is_refused_with_clear_errors():
    with pytest.raises(ValueError, match="unknown observation variant 'tiny'"):
        TownletVectorEnv(config(), variant="tiny")
    with pytest.raises(TypeError, match="TownletConfig"):
        TownletVectorEnv({"world": {}})
    with pytest.raises(ValueError, match="max_slots"):
        TownletVectorEnv(config(embeddings={"max_slots": N - 1}))
    env = TownletVectorEnv(config())
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(N, np.int64))
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=-1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(24,\)"):
        env.step(np.zeros(N + 1, np.int64))
    with pytest.raises(TypeError, match="integer"):
        env.step(np.zeros(N, np.float32))
    acts = np.zeros(N, np.int64)
    acts[4] = N_ACTIONS
    with pytest.raises(ValueError, match=r"actions\[4\] = 15 is out of range"):
        env.step(acts)
    acts[4] = -2
    with pytest.raises(ValueError, match=r"actions\[4\] = -2 is out of range .*SCRIPTED"):
        env.step(acts)
