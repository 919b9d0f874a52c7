"""asv: the frame write on the simulation thread (time per tick, share of the tick, GB/s).

Targets (issue 5): at 100k agents the write costs <= 5% of the kernel's tick; at 1M
agents the copy runs at >= 5 GB/s. ``python benchmarks/bench_frames.py`` prints them.
"""

from __future__ import annotations

import time

import numpy as np

from townlet.config import default_config, with_agents
from townlet.frames.writer import FrameRing
from townlet.world import World


def _world(agents: int) -> tuple[World, object]:
    cfg = with_agents(default_config(), agents)
    w = World(cfg, seed=0)
    for _ in range(30):  # leave the initial transient
        w.step()
    return w, cfg


class FrameWrite:
    """Frame write (one C call, one memcpy per column) next to the kernel tick it follows."""

    params = [10_000, 100_000, 1_000_000]  # noqa: RUF012 - asv API
    param_names = ["agents"]  # noqa: RUF012 - asv API
    timeout = 600
    number = 1
    repeat = 20

    def setup(self, agents: int) -> None:
        self.world, cfg = _world(agents)
        self.ring = FrameRing.for_world(self.world, cfg, doorbell=None)
        self.sections = self.world.sections()

    def teardown(self, agents: int) -> None:
        self.ring.close()

    def time_publish(self, agents: int) -> None:
        self.ring.publish(self.world.tick, self.sections)

    def track_write_percent_of_tick(self, agents: int) -> float:
        """Median frame-write time as a percentage of the median kernel tick."""
        ticks, writes = [], []
        for _ in range(15):
            t0 = time.perf_counter()
            self.world.step()
            t1 = time.perf_counter()
            self.ring.publish(self.world.tick, self.world.sections())
            t2 = time.perf_counter()
            ticks.append(t1 - t0)
            writes.append(t2 - t1)
        return 100.0 * float(np.median(writes)) / float(np.median(ticks))

    track_write_percent_of_tick.unit = "%"

    def track_copy_gbps(self, agents: int) -> float:
        """Frame bytes written per second of frame write (median of 15)."""
        nbytes = self.ring.schema.fixed_nbytes
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            self.ring.publish(self.world.tick, self.sections)
            times.append(time.perf_counter() - t0)
        return nbytes / float(np.median(times)) / 1e9

    track_copy_gbps.unit = "GB/s"


if __name__ == "__main__":
    for n in FrameWrite.params:
        b = FrameWrite()
        b.setup(n)
        try:
            print(f"agents={n:>9,}  frame={b.ring.schema.fixed_nbytes / 1e6:7.2f} MB  "
                  f"write/tick={b.track_write_percent_of_tick(n):5.1f}%  "
                  f"copy={b.track_copy_gbps(n):5.1f} GB/s")
        finally:
            b.teardown(n)
