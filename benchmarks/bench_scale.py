"""asv + a printing runner: a sweep on local Ray against the same towns run one after
another in one process, and Ray's cost per task.

``python -m benchmarks.bench_scale [agents] [towns] [ticks]`` prints the figures (and
those of two towns' vector envs stepped locally vs as one ShardedVectorEnv)."""

import sys
import tempfile
import time
from pathlib import Path

from townlet.scale.cluster import LOCAL, SERIAL, connect
from townlet.scale.results import Journal
from townlet.scale.spec import load_spec
from townlet.scale.sweep import run_sweep


def _jobs(agents, towns, ticks, folder):
    spec = Path(folder) / "spec.yaml"
    spec.write_text(f"seeds: {list(range(towns))}\nticks: {ticks}\nagents: [{agents}]\n")
    return load_spec(spec)[1]


def _wall(jobs, address, folder):
    """Seconds to run ``jobs`` from an empty journal at ``address``."""
    t0 = time.perf_counter()
    outcome = run_sweep(jobs, Journal(Path(folder)), address=address)
    assert not outcome.failed, outcome.failed
    return time.perf_counter() - t0


def measure(agents=10_000, towns=4, ticks=200, workers=2):
    """Aggregate agent-steps/s serial and on Ray, their ratio, and the wall time of a
    one-tick town serially and per worker on Ray (their difference is Ray's cost)."""
    with tempfile.TemporaryDirectory() as tmp:
        jobs = _jobs(agents, towns, ticks, tmp)
        connect(LOCAL, workers)
        _wall(jobs[:workers], LOCAL, f"{tmp}/warm")  # workers up, kernel loaded
        serial = _wall(jobs, SERIAL, f"{tmp}/serial")
        parallel = _wall(jobs, LOCAL, f"{tmp}/ray")
        tiny = _jobs(16, 40, 1, f"{tmp}")  # the same folder: new spec, one-tick towns
        tiny_ray = _wall(tiny, LOCAL, f"{tmp}/tiny-ray") / len(tiny) * workers
        tiny_serial = _wall(tiny, SERIAL, f"{tmp}/tiny-serial") / len(tiny)
    steps = agents * towns * ticks
    return {"serial_agent_steps_per_s": steps / serial, "ray_agent_steps_per_s": steps / parallel,
            "speedup": serial / parallel, "tiny_town_ms_serial": 1000 * tiny_serial,
            "tiny_town_ms_per_worker_on_ray": 1000 * tiny_ray}


def measure_rollouts(agents=4_096, shards=2, steps=100, variant="compact"):
    """Agent-steps/s of ``shards`` towns stepped in this process one after another vs
    the same towns as one ShardedVectorEnv (WAIT for every slot: the env's cost only)."""
    import numpy as np

    from townlet.config import default_config, with_agents
    from townlet.rl.vector_env import TownletVectorEnv
    from townlet.scale.rollouts import ShardedVectorEnv

    cfg = with_agents(default_config(), agents)
    local = [TownletVectorEnv(cfg, variant=variant, seed=s) for s in range(shards)]
    sharded = ShardedVectorEnv(cfg, list(range(shards)), variant=variant)
    for env in (*local, sharded):
        env.reset()
    wait = np.zeros(agents, dtype=np.int64)
    t0 = time.perf_counter()
    for _ in range(steps):
        for env in local:
            env.step(wait)
    serial = time.perf_counter() - t0
    both = np.zeros(agents * shards, dtype=np.int64)
    t0 = time.perf_counter()
    for _ in range(steps):
        sharded.step(both)
    parallel = time.perf_counter() - t0
    sharded.close()
    total = agents * shards * steps
    return {"rollout_local_agent_steps_per_s": total / serial,
            "rollout_sharded_agent_steps_per_s": total / parallel,
            "rollout_speedup": serial / parallel}


class Sweep:
    timeout = 900
    number = 1
    repeat = 1

    def setup_cache(self):
        return measure(agents=10_000, towns=4, ticks=100)

    def track_speedup_2_workers(self, figures):
        return figures["speedup"]

    track_speedup_2_workers.unit = "x serial"

    def track_ray_cost_per_task(self, figures):
        """What Ray adds to a one-tick town (task submission, transfer, result)."""
        return figures["tiny_town_ms_per_worker_on_ray"] - figures["tiny_town_ms_serial"]

    track_ray_cost_per_task.unit = "ms"


class Rollouts:
    timeout = 600
    number = 1
    repeat = 1

    def setup_cache(self):
        return measure_rollouts()

    def track_sharded_speedup(self, figures):
        return figures["rollout_speedup"]

    track_sharded_speedup.unit = "x serial"


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    figures = {**measure(*args), **measure_rollouts()}
    for name, value in figures.items():
        print(f"{name:36s} {value:14,.2f}")
