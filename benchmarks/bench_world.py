"""asv: the scripted town tick (no observations, no telemetry) at four sizes and on
one and two kernel threads, and the cost of each tick phase."""

import subprocess
import sys
import time

import numba

from townlet.config import default_config, with_agents, with_settings
from townlet.world import World
from townlet.world.kernel import PHASES
from townlet.world.phases import phase_costs


def _world(agents, threads=1):
    cfg = with_settings(with_agents(default_config(), agents), {"kernel.threads": threads},
                        "benchmark")
    return World(cfg, seed=0)


class TownTick:
    params = ((1_000, 10_000, 100_000, 1_000_000),
              tuple(range(1, min(2, numba.config.NUMBA_NUM_THREADS) + 1)))
    param_names = ("agents", "threads")
    timeout = 600

    def setup(self, agents, threads):
        self.world = _world(agents, threads)
        for _ in range(50):
            self.world.step()

    def time_tick(self, agents, threads):
        self.world.step()

    def track_agent_steps_per_s(self, agents, threads):
        ticks = 20
        t0 = time.perf_counter()
        for _ in range(ticks):
            self.world.step()
        return agents * ticks / (time.perf_counter() - t0)

    track_agent_steps_per_s.unit = "agent-steps/s"


class TownPhases:
    """ns per agent-tick of each tick phase (townlet.world.phases) at two sizes."""

    params = ((10_000, 1_000_000), PHASES + ("tick",))
    param_names = ("agents", "phase")
    timeout = 1200

    def setup_cache(self):
        costs = {}
        for agents in self.params[0]:
            world = _world(agents)
            for _ in range(720):  # midday: the town has settled into its routines
                world.step()
            costs[agents] = phase_costs(world, 20)
        return costs

    def track_phase_ns(self, costs, agents, phase):
        return costs[agents][phase]

    track_phase_ns.unit = "ns/agent-tick"


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
