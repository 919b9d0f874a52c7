"""Measured cost of each tick phase (``townlet bench --phases``).

The tick is one fused pass over the agents, and a clock read per agent would cost
more than the phases it times (``rdtsc`` is ~70 ns in this VM). So each phase is
measured by prefix: from the same saved state, the kernel runs the phases before
``k`` (``tick(..., upto=k)``) for ``k = 1 .. len(PHASES)`` (the world phase always
runs); the cost of phase ``k`` is ``time(k + 1) - time(k)``, i.e. what it adds to a
tick that ran everything before it, on the real state. Times are the process's CPU
time (every kernel thread's), so other processes sharing the cores do not inflate
them. Every partial tick is thrown away (the state is restored) and one full tick
then advances the world, so the measured ticks follow the real run.
"""

from __future__ import annotations

import time

import numba
import numpy as np

from townlet.world.kernel import PHASES, tick
from townlet.world.world import World

__all__ = ["phase_costs"]


def phase_costs(world: World, ticks: int) -> dict[str, float]:
    """Nanoseconds per agent-tick of each phase of ``PHASES``, summed over ``ticks``
    real ticks of ``world`` (scripted policy) and divided by agents x ticks; the key
    ``"tick"`` holds the full tick. The prefixes run in a rotating order, so slow drift
    of a shared machine's load spreads over all phases."""
    ks, kp = world._ks, world._kp
    live: list[np.ndarray] = list(world._s)
    saved = [np.empty_like(a) for a in live]
    spent = np.zeros(len(PHASES) + 1)  # by upto; upto 0 is never run
    no_actions = np.zeros(0, dtype=np.int8)
    numba.set_num_threads(world.threads)
    for n in range(ticks):
        world._begin_batch()
        for a, b in zip(saved, live):
            np.copyto(a, b)
        for j in range(len(PHASES)):
            upto = 1 + (j + n) % len(PHASES)
            for a, b in zip(live, saved):
                np.copyto(a, b)
            t0 = time.process_time()
            tick(ks, kp, no_actions, False, upto, world._tick_mode())
            spent[upto] += time.process_time() - t0
        for a, b in zip(live, saved):
            np.copyto(a, b)
        world.step()
    per = 1e9 / (ticks * world.n_agents)
    costs = {name: float((spent[k + 1] - spent[k]) * per) for k, name in enumerate(PHASES)}
    costs["tick"] = float(spent[len(PHASES)] * per)
    return costs
