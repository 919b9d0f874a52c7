"""asv: the frame write on the simulation thread (time per tick, share of the tick, GB/s).

Targets (issue 12): the telemetry hook's work per tick (events logged every tick, a
frame every ``telemetry.frame_every`` ticks) costs <= 5% of the kernel's tick at 10k,
100k and 1M agents; issue 5: at 1M agents the copy runs at >= 5 GB/s. The share is
measured for a frame every tick and for the configured cadence in the same loop, so
the two figures see the same machine load; both also in process CPU (less sensitive to
other processes on a busy machine). Two windows of the first day: night (from tick 30,
most agents asleep) and noon (from tick 720, most of them about: a longer tick and more
of each frame changed). ``python benchmarks/bench_frames.py`` prints both
(``--window``, ``--sizes`` choose).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from townlet.config import default_config, with_agents
from townlet.frames.writer import FrameRing
from townlet.world import World

WINDOWS = {"night": 30, "noon": 720}
"""Tick each measuring window starts at (a day is 1440 ticks; night leaves the initial
transient)."""


def _world(agents: int, start: int) -> tuple[World, object]:
    cfg = with_agents(default_config(), agents)
    w = World(cfg, seed=0)
    while w.tick < start:
        w.step()
    return w, cfg


class _Window:
    """A world stepped to its window's first tick, a ring with a frame every tick and
    one at the configured cadence, and the measurements over the ticks that follow."""

    start = WINDOWS["night"]
    timeout = 600
    number = 1
    repeat = 20

    def setup(self, agents: int) -> None:
        self.world, cfg = _world(agents, self.start)
        self.ring = FrameRing.for_world(self.world, cfg, doorbell=None, every=1)
        self.paced = FrameRing.for_world(self.world, cfg, doorbell=None)
        self.sections = self.world.sections()
        for ring in (self.ring, self.paced):  # sections are checked on first use
            ring.flush(self.world.tick, self.sections)

    def teardown(self, agents: int) -> None:
        self.ring.close()
        self.paced.close()

    def _shares(self) -> tuple[float, float]:
        """(frame every tick, configured cadence) as a percentage of the median kernel
        tick: the median write, and the median over frame periods of the hook's time per
        tick (so one preempted tick on a shared machine does not decide the figure)."""
        k = self.paced.every
        ticks, every, paced = [], [], []
        for _ in range(4 * k if k > 1 else 32):
            t0 = time.perf_counter()
            self.world.step()
            t1 = time.perf_counter()
            self.ring.publish(self.world.tick, self.world.sections())
            t2 = time.perf_counter()
            self.paced.publish(self.world.tick, self.world.sections())
            t3 = time.perf_counter()
            ticks.append(t1 - t0)
            every.append(t2 - t1)
            paced.append(t3 - t2)
        periods = [sum(paced[i:i + k]) / k for i in range(0, len(paced) - k + 1, k)]
        tick = float(np.median(ticks))
        return 100.0 * float(np.median(every)) / tick, 100.0 * float(np.median(periods)) / tick

    def _cpu(self) -> tuple[float, float, float]:
        """In process CPU, medians over 64 ticks: (a written frame in µs and its share of
        the kernel tick in %, a frame every tick; the hook's share at the configured
        cadence, over its frame periods, in %). CPU time leaves out the time other
        processes run on a busy machine (not what they do to the caches)."""
        k = self.paced.every
        ticks, writes, paced = [], [], []
        for _ in range(64):
            t0 = time.process_time_ns()
            self.world.step()
            t1 = time.process_time_ns()
            self.ring.publish(self.world.tick, self.world.sections())
            t2 = time.process_time_ns()
            self.paced.publish(self.world.tick, self.world.sections())
            paced.append(time.process_time_ns() - t2)
            writes.append(t2 - t1)
            ticks.append(t1 - t0)
        periods = [sum(paced[i:i + k]) / k for i in range(0, len(paced) - k + 1, k)]
        write, tick = float(np.median(writes)), float(np.median(ticks))
        return write / 1e3, 100.0 * write / tick, 100.0 * float(np.median(periods)) / tick


class FrameWrite(_Window):
    """Frame write (one C call, one memcpy per column) next to the kernel tick it follows,
    at night."""

    params = [10_000, 100_000, 1_000_000]  # noqa: RUF012 - asv API
    param_names = ["agents"]  # noqa: RUF012 - asv API

    def time_publish(self, agents: int) -> None:
        self.ring.publish(self.world.tick, self.sections)

    def track_write_cpu_us(self, agents: int) -> float:
        """Process CPU of one written frame (a frame every tick)."""
        return self._cpu()[0]

    track_write_cpu_us.unit = "us"

    def track_write_cpu_percent_of_tick(self, agents: int) -> float:
        """The same as a share of the kernel tick's process CPU."""
        return self._cpu()[1]

    track_write_cpu_percent_of_tick.unit = "%"

    def track_hook_cpu_percent_of_tick_paced(self, agents: int) -> float:
        """Events every tick, a frame every ``telemetry.frame_every`` ticks, as a share
        of the kernel tick's process CPU (``track_hook_percent_of_tick_paced`` in CPU)."""
        return self._cpu()[2]

    track_hook_cpu_percent_of_tick_paced.unit = "%"

    def track_write_percent_of_tick(self, agents: int) -> float:
        """A frame every tick (the layout before ``telemetry.frame_every``)."""
        return self._shares()[0]

    track_write_percent_of_tick.unit = "%"

    def track_hook_percent_of_tick_paced(self, agents: int) -> float:
        """Events every tick, a frame every ``telemetry.frame_every`` ticks (the default)."""
        return self._shares()[1]

    track_hook_percent_of_tick_paced.unit = "%"

    def track_copy_gbps(self, agents: int) -> float:
        """Bytes copied into the ring per second of frame write (median of 15; static
        columns are copied once per slot, so this counts the bytes a frame really moves)."""
        rates = []
        for _ in range(15):
            b0, t0 = self.ring.bytes_written, time.perf_counter()
            self.ring.publish(self.world.tick, self.sections)
            rates.append((self.ring.bytes_written - b0) / (time.perf_counter() - t0))
        return float(np.median(rates)) / 1e9

    track_copy_gbps.unit = "GB/s"


class FrameWriteNoon(_Window):
    """A written frame's share of the tick at noon, where the target is hardest: more of
    the town moves (one figure, for the sizes the target is open at: a noon setup steps
    720 ticks)."""

    start = WINDOWS["noon"]
    params = [100_000, 1_000_000]  # noqa: RUF012 - asv API
    param_names = ["agents"]  # noqa: RUF012 - asv API

    def track_write_cpu_percent_of_tick(self, agents: int) -> float:
        """Process CPU of one written frame (a frame every tick) as a share of the tick's."""
        return self._cpu()[1]

    track_write_cpu_percent_of_tick.unit = "%"


def _sizes(text: str) -> list[int]:
    """``--sizes``: positive agent counts, comma-separated."""
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of agent counts: {text!r}") from None
    if not all(n > 0 for n in sizes):
        raise argparse.ArgumentTypeError(f"agent counts must be positive: {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> None:
    """Print each window's figures for each size."""
    ap = argparse.ArgumentParser(description="frame write against the kernel tick")
    ap.add_argument("--sizes", type=_sizes, default=FrameWrite.params,
                    help="agent counts, comma-separated")
    ap.add_argument("--window", default=",".join(WINDOWS),
                    help=f"windows, comma-separated, of {', '.join(WINDOWS)}")
    args = ap.parse_args(argv)
    windows = args.window.split(",")
    if not set(windows) <= set(WINDOWS):
        ap.error(f"--window: choose from {', '.join(WINDOWS)}")
    for window in windows:
        for n in args.sizes:
            b = FrameWrite()
            b.start = WINDOWS[window]
            b.setup(n)
            try:
                every, paced = b._shares()
                cpu_us, cpu_share, cpu_paced = b._cpu()
                print(f"{window:<5} agents={n:>9,}  "
                      f"frame={b.ring.schema.fixed_nbytes / 1e6:7.2f} MB  "
                      f"write/tick every tick={every:5.1f}%  "
                      f"every {b.paced.every} ticks={paced:5.1f}%  "
                      f"copy={b.track_copy_gbps(n):5.1f} GB/s  "
                      f"CPU per frame={cpu_us:8.1f} us ({cpu_share:4.1f}%)  "
                      f"CPU every {b.paced.every} ticks={cpu_paced:5.1f}%", flush=True)
            finally:
                b.teardown(n)


if __name__ == "__main__":
    main()
