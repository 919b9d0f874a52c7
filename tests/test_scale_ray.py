"""Sweeps and sharded rollouts on a real local Ray instance (2 CPUs): towns equal the
same seeds run serially, a killed worker's town is rerun, sharded envs equal local ones."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import msgspec
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="needs the ray extra")
pytest.importorskip("gymnasium", reason="needs the rl extra")

from townlet.config import default_config, with_agents
from townlet.rl.vector_env import TownletVectorEnv
from townlet.scale.results import Journal
from townlet.scale.rollouts import ShardedVectorEnv
from townlet.scale.spec import load_spec
from townlet.scale.sweep import run_sweep
from townlet.scale.town import run_town

TASK_TITLE = b"ray::run_town"


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    yield
    ray.shutdown()


def _town_processes() -> list[int]:
    """PIDs of Ray workers currently running a town (Ray titles them by task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(TASK_TITLE):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _kill_first_town_worker(stop: threading.Event, killed: list[int]) -> None:
    while not stop.is_set() and not killed:
        pids = _town_processes()
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])
        stop.wait(0.02)


def test_a_sweep_equals_serial_runs_and_survives_a_killed_worker(local_ray, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("seeds: [0, 1, 2, 3]\nticks: 120\nagents: [48]\n")
    _, jobs = load_spec(spec)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_first_town_worker, args=(stop, killed))
    killer.start()
    try:
        outcome = run_sweep(jobs, Journal(tmp_path / "out"), retries=3)
    finally:
        stop.set()
        killer.join()
    assert killed, "no town worker was seen running"
    assert outcome.failed == {} and sorted(outcome.ran) == sorted(j.key for j in jobs)
    serial = {job.key: run_town(job).state_hash for job in jobs}
    assert {r.key: r.state_hash for r in outcome.results} == serial
    assert killed[0] not in {r.pid for r in outcome.results}
    assert len({r.state_hash for r in outcome.results}) == 4


def test_a_town_that_raises_is_reported_and_the_others_finish(local_ray, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("seeds: [0, 1]\nticks: 5\nagents: [16]\n")
    _, jobs = load_spec(spec)
    broken = msgspec.structs.replace(jobs[1], seed=-1)  # World refuses a negative seed
    outcome = run_sweep([jobs[0], broken], Journal(tmp_path / "out"), retries=0)
    assert outcome.ran == [jobs[0].key] and list(outcome.failed) == [broken.key]


def test_sharded_env_equals_the_same_towns_stepped_locally(local_ray):
    cfg = with_agents(default_config(), 24)
    sharded = ShardedVectorEnv(cfg, [3, 4])
    local = [TownletVectorEnv(cfg, seed=s, copy=True) for s in (3, 4)]
    try:
        obs, infos = sharded.reset()
        parts = [env.reset() for env in local]
        for key in obs:
            assert np.array_equal(obs[key], np.concatenate([p[0][key] for p in parts]))
        rng = np.random.default_rng(0)
        for _ in range(12):
            mask = infos["action_mask"]
            actions = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
            obs, reward, term, _trunc, infos = sharded.step(actions)
            parts = [env.step(a) for env, a in zip(local, np.split(actions, [24]))]
            assert np.array_equal(reward, np.concatenate([p[1] for p in parts]))
            assert np.array_equal(term, np.concatenate([p[2] for p in parts]))
            for key in obs:
                assert np.array_equal(obs[key], np.concatenate([p[0][key] for p in parts]))
        assert sharded.num_envs == 48 and obs["features"].shape[0] == 48
    finally:
        sharded.close()


def test_ppo_learns_from_towns_sharded_over_ray(local_ray, tmp_path):
    """One learner, two towns in Ray actors: the update sees both towns' agents."""
    pytest.importorskip("torch", reason="needs the rl extra")
    from townlet.train.checkpoint import load_checkpoint
    from townlet.train.ppo import PPOConfig, train

    cfg = with_agents(default_config(), 16)
    env = ShardedVectorEnv(cfg, [5, 6], variant="compact")
    updates = []
    try:
        path = train(PPOConfig(seed=5, variant="compact", total_agent_steps=2 * 32 * 16,
                               rollout_ticks=16, hidden=16), cfg, tmp_path, updates.append,
                     env=env)
    finally:
        env.close()
    assert len(updates) == 2 and updates[-1]["steps"] == 2 * 32 * 16
    assert load_checkpoint(path, env.layout).meta.policy_hash
