"""Autosave stall on the tick thread at 100k and 1M agents (asv suite + quick runner).

What the tick thread pays for an autosave, with a town ticking at steady state and the
autosaver's background writer running as in ``townlet run`` (``AutosaveHook``). Per round::

    offer_ms        the hook's call on a due tick (the capture: the tick thread's share of
                    copying the sections that are not agent rows, and arming the copy
                    ahead of the agents' rows, townlet.world.ahead)
    excess_ms       the next tick's time minus the median of the 3 ticks before the offer
                    (the writer thread copies the agents' rows meanwhile, and the tick
                    copies any block it reaches first; then it checksums and writes)
    stall_ms        offer_ms + excess_ms: "tick time with capture minus tick time without"
    offer_wall_ms   the hook's call in wall-clock time: it also waits for the writer
                    thread's share of the copy, so it shows whether that thread had a core
    excess_wall_ms  excess_ms in wall-clock time (the copier shares memory bandwidth)

Times are CPU seconds of the tick thread (``time.thread_time``: robust to other processes
on a loaded machine) except ``offer_wall_ms``, median over rounds; each round waits for
the writer to finish.

Quick run: ``python benchmarks/bench_autosave.py [--agents 100000,1000000] [--rounds 5]``
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import msgspec

ROUNDS = 5


def _world(agents: int, root: str):
    from townlet.config import default_config, with_agents
    from townlet.world import World

    cfg = with_agents(default_config(), agents)
    cfg = msgspec.structs.replace(cfg, snapshots=msgspec.structs.replace(cfg.snapshots, root=root))
    world = World(cfg, seed=1)
    for _ in range(5):
        world.step()
    return world


def _cpu(fn) -> float:
    t = time.thread_time()
    fn()
    return (time.thread_time() - t) * 1e3


def _cpu_wall(fn) -> tuple[float, float]:
    t, w = time.thread_time(), time.perf_counter()
    fn()
    return (time.thread_time() - t) * 1e3, (time.perf_counter() - w) * 1e3


def measure(agents: int, rounds: int = ROUNDS) -> dict[str, float]:
    """Median offer, next-tick excess and stall (ms) at ``agents``."""
    from townlet.snapshots.autosave import Autosaver
    from townlet.snapshots.world_io import AutosaveHook

    root = tempfile.mkdtemp(prefix="townlet-bench-autosave-")
    try:
        world = _world(agents, root)
        hook = AutosaveHook(Autosaver(Path(root), every=1, keep_last=1))
        hook.after(world)  # the steady state: the previous autosave's arrays are the spare
        hook.saver.flush()
        out: dict[str, list[float]] = {"offer_ms": [], "excess_ms": [], "stall_ms": [],
                                       "offer_wall_ms": [], "excess_wall_ms": []}
        with hook.saver:
            for _ in range(rounds):
                before = [_cpu_wall(world.step) for _ in range(3)]
                base = statistics.median(cpu for cpu, _ in before)
                base_wall = statistics.median(w for _, w in before)
                offer, wall = _cpu_wall(lambda: hook.after(world))
                cpu, next_wall = _cpu_wall(world.step)
                excess = cpu - base
                hook.saver.flush()
                if hook.saver.stats.failed:
                    raise RuntimeError(f"autosave failed: {hook.saver.stats.last_error}")
                out["offer_ms"].append(offer)
                out["excess_ms"].append(excess)
                out["stall_ms"].append(offer + excess)
                out["offer_wall_ms"].append(wall)
                out["excess_wall_ms"].append(next_wall - base_wall)
        return {k: statistics.median(v) for k, v in out.items()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


class AutosaveStall:
    """asv: the autosave's cost on the tick thread, by town size."""

    params = [100_000, 1_000_000]  # noqa: RUF012 - asv API
    param_names = ["agents"]  # noqa: RUF012 - asv API
    timeout = 900
    number = 1
    repeat = 1

    def setup_cache(self) -> dict[int, dict[str, float]]:
        return {n: measure(n) for n in self.params}

    def track_stall_ms(self, cache: dict[int, dict[str, float]], agents: int) -> float:
        return cache[agents]["stall_ms"]

    def track_offer_ms(self, cache: dict[int, dict[str, float]], agents: int) -> float:
        return cache[agents]["offer_ms"]

    def track_next_tick_excess_ms(self, cache: dict[int, dict[str, float]],
                                  agents: int) -> float:
        return cache[agents]["excess_ms"]

    def track_offer_wall_ms(self, cache: dict[int, dict[str, float]], agents: int) -> float:
        return cache[agents]["offer_wall_ms"]

    def track_next_tick_excess_wall_ms(self, cache: dict[int, dict[str, float]],
                                       agents: int) -> float:
        return cache[agents]["excess_wall_ms"]

    track_stall_ms.unit = track_offer_ms.unit = "ms"  # type: ignore[attr-defined]
    track_offer_wall_ms.unit = "ms"  # type: ignore[attr-defined]
    track_next_tick_excess_wall_ms.unit = "ms"  # type: ignore[attr-defined]
    track_next_tick_excess_ms.unit = "ms"  # type: ignore[attr-defined]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="100000,1000000")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    print(f"{'agents':>10} {'offer':>8} {'excess':>8} {'stall':>8} {'wall':>8} {'x-wall':>8}  "
          "ms of tick-thread CPU (wall, x-wall: offer and excess in wall-clock time), median")
    for n in (int(x) for x in args.agents.split(",")):
        r = measure(n, args.rounds)
        print(f"{n:>10,} {r['offer_ms']:8.1f} {r['excess_ms']:8.1f} {r['stall_ms']:8.1f} "
              f"{r['offer_wall_ms']:8.1f} {r['excess_wall_ms']:8.1f}", flush=True)


if __name__ == "__main__":
    main()
