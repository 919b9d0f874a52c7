"""The ``kernel.threads`` setting: the same states for every thread count, and the
per-phase cost measurement leaves the run it measures untouched."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numba
import numpy as np
import pytest

from townlet.config import ConfigError, default_config, with_agents, with_settings
from townlet.world import World
from townlet.world.actions import N_ACTIONS
from townlet.world.errors import InvalidArgument
from townlet.world.kernel import PHASES
from townlet.world.phases import phase_costs
from townlet.world.state import St


def _world(threads: int, agents: int = 240, seed: int = 11) -> World:
    cfg = with_settings(with_agents(default_config(), agents), {"kernel.threads": threads}, "test")
    return World(cfg, seed)


def _eventful_run(world: World, ticks: int) -> list[str]:
    """More than a day (midnight plans and rent) with every mechanic exercised
    (perturbations, a starving agent, an employment exit, random actions between
    scripted ticks); hashes along the way."""
    world.perturb("blackout", 40, target=0)
    world.perturb("price_spike", 200, magnitude=2.0, target="all")
    world.set_need(3, "hunger", 0.0)
    world.employment_exit(5)
    rng = np.random.default_rng(0)
    hashes = []
    for t in range(ticks):
        if t % 97 < 5:
            world.step(rng.integers(-1, N_ACTIONS, world.n_agents).astype(np.int8))
        else:
            world.step()
        if t == 700:
            world.perturb("arranged_meet", 120, target=0)
        if t % 300 == 299:
            hashes.append(world.state_hash())
    return hashes


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_two_threads_give_the_same_states_as_one():
    one, two = _world(1), _world(2)
    assert (one.threads, two.threads) == (1, 2)
    assert _eventful_run(one, 1800) == _eventful_run(two, 1800)
    stats = one.view("stats")
    for stat in (St.CHATS, St.COMPLETED, St.EXITS, St.RESPAWNS, St.FAINTS, St.CRITICAL_TICKS):
        assert stats[stat] > 0, St(stat).name


def test_threads_beyond_numba_are_refused_with_the_fix():
    too_many = numba.config.NUMBA_NUM_THREADS + 1
    with pytest.raises(InvalidArgument, match=f"NUMBA_NUM_THREADS={too_many}"):
        _world(too_many, agents=20)


def test_threads_key_is_checked_at_load():
    with pytest.raises(ConfigError, match="kernel.threads"):
        with_settings(default_config(), {"kernel.threads": 0}, "--threads")


def test_threads_do_not_change_config_id():
    from townlet.config import config_id

    cfg = default_config()
    assert config_id(with_settings(cfg, {"kernel.threads": 2}, "test")) == config_id(cfg)


def test_phase_costs_measure_every_phase_without_changing_the_run():
    measured, plain = _world(1, agents=120), _world(1, agents=120)
    for _ in range(30):
        measured.step()
        plain.step()
    costs = phase_costs(measured, 5)
    for _ in range(5):
        plain.step()
    assert measured.state_hash() == plain.state_hash()
    assert set(costs) == {*PHASES, "tick"}
    assert all(math.isfinite(v) for v in costs.values())
    assert costs["tick"] > 0


def test_bench_reports_threads_and_phases():
    out = subprocess.run([sys.executable, "-m", "townlet", "bench", "--one", "200", "--ticks",
                          "3", "--warmup", "3", "--threads", "1", "--phases"],
                         capture_output=True, text=True, timeout=600, check=True)
    row = json.loads(out.stdout)
    assert row["threads"] == 1 and row["agents"] == 200
    assert set(row["phases_ns"]) == {*PHASES, "tick"}


def test_bench_refuses_bad_thread_counts():
    out = subprocess.run([sys.executable, "-m", "townlet", "bench", "--threads", "0,x"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2
    assert "--threads" in out.stderr


def _run_cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "townlet", "run", "--agents", "60", "--ticks",
                           "120", "--json", "--no-console", "--no-publish", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_run_threads_flag_gives_the_same_run(tmp_path):
    one, two = _run_cli(tmp_path, "--threads", "1"), _run_cli(tmp_path, "--threads", "2")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert json.loads(one.stdout)["state_hash"] == json.loads(two.stdout)["state_hash"]
    bad = _run_cli(tmp_path, "--threads", "0")
    assert bad.returncode == 2 and "kernel.threads" in bad.stderr
