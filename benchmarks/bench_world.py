"""asv: the scripted town tick (no observations, no telemetry) at four sizes."""

import subprocess
import sys
import time

from townlet.config import default_config, with_agents
from townlet.world import World


class TownTick:
    params = (1_000, 10_000, 100_000, 1_000_000)
    param_names = ("agents",)
    timeout = 600

    def setup(self, agents):
        self.world = World(with_agents(default_config(), agents), seed=0)
        for _ in range(50):
            self.world.step()

    def time_tick(self, agents):
        self.world.step()

    def track_agent_steps_per_s(self, agents):
        ticks = 20
        t0 = time.perf_counter()
        for _ in range(ticks):
            self.world.step()
        return agents * ticks / (time.perf_counter() - t0)

    track_agent_steps_per_s.unit = "agent-steps/s"


class TownMemory:
    params = (100_000, 1_000_000)
    param_names = ("agents",)
    timeout = 600

    def peakmem_world(self, agents):
        world = World(with_agents(default_config(), agents), seed=0)
        world.step()


class ColdStart:
    timeout = 300

    def setup(self):
        subprocess.run([sys.executable, "-m", "townlet", "run", "--ticks", "1", "--json"],
                       check=True, capture_output=True)

    def time_run_one_tick(self):
        subprocess.run([sys.executable, "-m", "townlet", "run", "--ticks", "1", "--json"],
                       check=True, capture_output=True)
