"""asv: RL environment throughput (agent-steps/s), the PettingZoo wrapper, and
end-to-end PPO.

Targets (issue 12): ``TownletVectorEnv.step`` on one core, world tick included,
hybrid >= 2M agent-steps/s at 1k and 10k agents, compact >= 4M; the PettingZoo
wrapper >= 0.5M at 1k. Issue 13: PPO (compact, rollout and update) >= 50k
agent-steps/s on 2 cores. Agents follow a cheap needs-driven option policy
(computed outside the timed region) so the town is busy the way a trained town
would be. Env times are this process's CPU time (``time.process_time``): the
machine is shared, and CPU time measures what one core delivers without counting
the moments another process held it. PPO reports both wall and CPU figures.
``python benchmarks/bench_rl.py [env|pettingzoo|ppo ...]`` prints the figures
(one line each, for A/B runs against another checkout on ``PYTHONPATH``).
"""

from __future__ import annotations

import sys
import tempfile
import time

from townlet.config import default_config, with_agents
from townlet.rl import TownletVectorEnv, parallel_env
from townlet.rl.baselines import NeedsPolicy
from townlet.world.actions import Action

WARMUP = 50
"""Steps run before measuring, past the initial transient (and the compile)."""


def _env(variant: str, agents: int) -> tuple[TownletVectorEnv, NeedsPolicy, tuple]:
    env = TownletVectorEnv(with_agents(default_config(), agents), variant=variant, seed=0)
    obs, infos = env.reset(seed=0)
    policy = NeedsPolicy(env)
    for _ in range(WARMUP):
        obs, _, _, _, infos = env.step(policy(obs, infos["action_mask"]))
    return env, policy, (obs, infos)


def agent_steps_per_second(env, policy, last, steps: int) -> float:
    """Agent-steps/s of ``env.step`` alone (the policy runs outside the timer)."""
    obs, infos = last
    spent = 0.0
    for _ in range(steps):
        actions = policy(obs, infos["action_mask"])
        t0 = time.process_time()
        obs, _, _, _, infos = env.step(actions)
        spent += time.process_time() - t0
    return env.num_envs * steps / spent


class VectorEnvStep:
    """One ``TownletVectorEnv.step`` (one world tick plus rewards, observations, masks)."""

    params = (("compact", "hybrid", "full"), (1_000, 10_000))
    param_names = ("variant", "agents")
    timeout = 900
    number = 1
    repeat = 10
    timer = time.process_time

    def setup(self, variant: str, agents: int) -> None:
        self.env, self.policy, self.last = _env(variant, agents)
        self.actions = self.policy(self.last[0], self.last[1]["action_mask"])

    def time_step(self, variant: str, agents: int) -> None:
        self.env.step(self.actions)

    def track_agent_steps_per_second(self, variant: str, agents: int) -> float:
        return agent_steps_per_second(self.env, self.policy, self.last, 200)

    track_agent_steps_per_second.unit = "agent-steps/s"


class ParallelEnvOverhead:
    """The PettingZoo wrapper: dicts per agent on top of the same step."""

    params = (1_000,)
    param_names = ("agents",)
    timeout = 900

    def setup(self, agents: int) -> None:
        self.env = parallel_env(with_agents(default_config(), agents), seed=0)
        self.env.reset(seed=0)
        for _ in range(WARMUP):
            self.env.step({a: Action.WAIT for a in self.env.agents})

    def track_agent_steps_per_second(self, agents: int) -> float:
        spent, steps, done = 0.0, 50, 0
        for _ in range(steps):
            actions = {a: Action.WAIT for a in self.env.agents}
            t0 = time.process_time()
            self.env.step(actions)
            spent += time.process_time() - t0
            done += len(actions)
        return done / spent

    track_agent_steps_per_second.unit = "agent-steps/s"


def ppo_agent_steps_per_second(agents: int = 512, updates: int = 3) -> tuple[float, float]:
    """(wall, CPU) agent-steps/s of PPO updates after the first (compile, page-in),
    rollout and update included, compact observations, the CLI's defaults."""
    from townlet.train.ppo import PPOConfig, train

    ticks = 128
    cfg = PPOConfig(variant="compact", total_agent_steps=ticks * agents * updates,
                    rollout_ticks=ticks, checkpoint_every=10 * updates)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as out:
        train(cfg, with_agents(default_config(), agents), out, on_update=rows.append)
    steps = ticks * agents * (len(rows) - 1)
    wall = sum(r["rollout_sec"] + r["update_sec"] for r in rows[1:])
    cpu = sum(ticks * agents / r["env_steps_per_cpu_sec"] for r in rows[1:])
    return steps / wall, steps / cpu


class PPOThroughput:
    """End-to-end PPO on one town (issue 13: >= 50k agent-steps/s on 2 cores)."""

    timeout = 1800
    number = 1
    repeat = 1

    def setup_cache(self) -> tuple[float, float]:
        return ppo_agent_steps_per_second()

    def track_agent_steps_per_second(self, figures: tuple[float, float]) -> float:
        return figures[0]

    def track_agent_steps_per_cpu_second(self, figures: tuple[float, float]) -> float:
        return figures[1]

    track_agent_steps_per_second.unit = "agent-steps/s"
    track_agent_steps_per_cpu_second.unit = "agent-steps/CPU-s"


def main(parts: list[str]) -> None:
    if "env" in parts:
        for agents in (1_000, 10_000):
            for variant in ("compact", "hybrid", "full"):
                env, policy, last = _env(variant, agents)
                steps = 400 if agents <= 1_000 else 60
                best = max(agent_steps_per_second(env, policy, last, steps) for _ in range(3))
                print(f"vector env  {variant:8s} {agents:>6} agents: {best / 1e6:6.2f} M "
                      "agent-steps/s (CPU time)", flush=True)
    if "pettingzoo" in parts:
        pz = ParallelEnvOverhead()
        pz.setup(1_000)
        rate = max(pz.track_agent_steps_per_second(1_000) for _ in range(3))
        print(f"pettingzoo  hybrid     1000 agents: {rate / 1e6:6.3f} M agent-steps/s "
              "(CPU time)", flush=True)
    if "ppo" in parts:
        wall, cpu = ppo_agent_steps_per_second()
        print(f"ppo         compact     512 agents: {wall / 1e3:6.1f} k agent-steps/s wall, "
              f"{cpu / 1e3:6.1f} k per CPU-second", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["env", "pettingzoo", "ppo"])
