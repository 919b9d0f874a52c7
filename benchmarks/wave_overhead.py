"""What the wave tick's own work costs: the pipeline (townlet.world.waves) forced onto one
thread against the slot-order tick, in process CPU, so the figure holds on a loaded box.

    python benchmarks/wave_overhead.py --agents 1000000 --ticks 30

Two towns of one seed are ticked in turn (each tick's cache is as cold for either); both
must end in the same state. The overhead X (scan, merge, per-district bookkeeping) bounds
the 2-thread speedup at about 2 / (1 + X) before the pipeline's fill.
"""

from __future__ import annotations

import argparse
import json
import time

import numba
import numpy as np

from townlet.config import default_config, with_agents, with_settings
from townlet.world import World
from townlet.world.kernel import PHASES, tick
from townlet.world.waves import far_count, tick_waves, waves_for


def _timed(world: World, run) -> tuple[float, int]:
    """Process CPU seconds of one tick of ``world`` and what ``run`` returned."""
    world._new_batch()
    start = time.process_time()
    out = run()
    spent = time.process_time() - start
    world._s.evt_stale[0] = 1
    return spent, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100_000)
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=100)
    args = ap.parse_args()
    numba.set_num_threads(1)
    cfg = with_settings(with_agents(default_config(), args.agents), {"kernel.threads": 1},
                        "--threads")
    plain, waved = World(cfg, 0), World(cfg, 0)
    for _ in range(args.warmup):
        plain.step()
        waved.step()
    w = waves_for(waved._s, waved._p, 1)
    mode, phases = plain._tick_mode(), len(PHASES)
    near = far_count(waved._ks, w) == 0
    slot_cpu, wave_cpu, whole = [], [], 0
    for _ in range(args.ticks):
        spent, _ = _timed(plain, lambda: tick(plain._ks, plain._kp, plain._no_actions, False,
                                              phases, mode))
        slot_cpu.append(spent)
        spent, rows = _timed(waved, lambda near=near: tick_waves(
            waved._ks, waved._kp, waved._no_actions, False, phases, mode, w, near))
        wave_cpu.append(spent)
        whole += rows == w.progress.shape[0]
        near = rows == w.progress.shape[0] or far_count(waved._ks, w) == 0  # as World.step
    if plain.state_hash() != waved.state_hash():
        raise SystemExit("the wave tick on one thread left another state than the slot loop")
    per = 1e9 / args.agents
    slot, wave = float(np.median(slot_cpu)) * per, float(np.median(wave_cpu)) * per
    print(json.dumps({"agents": args.agents, "ticks": args.ticks, "slot_ns": round(slot, 2),
                      "wave_one_thread_ns": round(wave, 2), "overhead": round(wave / slot - 1, 3),
                      "ticks_all_rows_on_waves": whole}))


if __name__ == "__main__":
    main()
