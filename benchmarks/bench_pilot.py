"""asv: a town driven by a learned policy (``townlet run --policy``) vs the scripted town.

One ``Simulation.step`` with a ``PolicyDriver``: the anneal draw, one batched forward
pass of a checkpointed ``townlet.train`` network (default architecture, greedy) over
every learned agent, the world tick, and the next observations, masks and rewards.
The scripted step is the same town without the driver. CPU time of this process
(the machine is shared). ``python benchmarks/bench_pilot.py`` prints both.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from townlet.config import config_id, default_config, with_agents
from townlet.pilot.checkpoints import load
from townlet.pilot.driver import PolicyDriver
from townlet.rl.layout import build_layout
from townlet.sim.loop import Simulation
from townlet.train.checkpoint import save_checkpoint
from townlet.train.nets import NetConfig, PolicyNet

WARMUP = 20


def _sim(variant: str | None, agents: int) -> Simulation:
    cfg = with_agents(default_config(), agents)
    sim = Simulation(cfg, 0)
    if variant is not None:
        torch.manual_seed(0)
        layout = build_layout(cfg, variant)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.pt"
            save_checkpoint(path, PolicyNet(NetConfig.for_layout(layout)), layout,
                            config_id=config_id(cfg))
            PolicyDriver(sim, load(path)).attach()
    for _ in range(WARMUP):
        sim.step()
    return sim


def agent_steps_per_second(sim: Simulation, steps: int) -> float:
    t0 = time.process_time()
    for _ in range(steps):
        sim.step()
    return sim.world.n_agents * steps / (time.process_time() - t0)


class DrivenStep:
    """One tick of a town whose every agent the learned policy drives."""

    params = ((None, "compact", "hybrid"), (1_000,))
    param_names = ("variant", "agents")
    timeout = 900

    def setup(self, variant: str | None, agents: int) -> None:
        torch.set_num_threads(1)
        self.sim = _sim(variant, agents)

    def track_agent_steps_per_second(self, variant: str | None, agents: int) -> float:
        return agent_steps_per_second(self.sim, 100)

    track_agent_steps_per_second.unit = "agent-steps/s"


def main() -> None:
    torch.set_num_threads(1)
    for variant in (None, "compact", "hybrid"):
        sim = _sim(variant, 1_000)
        rate = max(agent_steps_per_second(sim, 100) for _ in range(3))
        print(f"{variant or 'scripted':8s} 1000 agents: {rate:,.0f} agent-steps/s (CPU time, "
              f"one torch thread)", flush=True)


if __name__ == "__main__":
    main()
