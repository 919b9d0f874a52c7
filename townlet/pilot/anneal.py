"""Anneal from scripted to learned control, deterministically (SPEC/learning.md §3.5, §5.7).

The ratio r at a tick comes from the configured schedule (linear between points). Which
agents the learned policy drives is a counter-based draw from the world's ``policy``
RNG stream, salted so it never coincides with the world's own draws:

- ``agents``: slot i with generation g is learned iff u(key, i, g) < r. An agent's draw
  never changes, so as r grows agents join and stay; a newcomer in the slot draws anew.
- ``decisions``: slot i is learned at tick t iff u(key, t, i) < r, a fresh coin per
  decision.

The draw is vectorised (no Python per agent) and depends only on the world's seed keys,
tick, slots and generations, so the same config, seed and checkpoint give the same
split, also after resuming a snapshot.
"""

from __future__ import annotations

import numpy as np

from townlet.config.pilot import AnnealConfig
from townlet.world.rng import POLICY

__all__ = ["ANNEAL_SALT", "Anneal", "uniform"]

ANNEAL_SALT = np.uint64(0xA22EA1_5C21B7ED)
"""XORed into the policy stream's key: the anneal's draws are its own."""
_M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)
_M3, _M4 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def uniform(key: np.uint64, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``townlet.world.rng.uniform`` over arrays: splitmix64 of (key, a, b) in [0, 1)."""
    z = key ^ (a.astype(np.uint64) * _M1) ^ (b.astype(np.uint64) * _M2)
    z = (z ^ (z >> np.uint64(30))) * _M3
    z = (z ^ (z >> np.uint64(27))) * _M4
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


class Anneal:
    """Which slots the learned policy drives at each tick."""

    def __init__(self, cfg: AnnealConfig, n_agents: int) -> None:
        self.cfg = cfg
        self._ticks = np.array([p.tick for p in cfg.schedule], np.float64)
        self._ratios = np.array([p.ratio for p in cfg.schedule], np.float64)
        self._slots = np.arange(n_agents, dtype=np.uint64)

    def ratio(self, tick: int) -> float:
        """The scheduled learned share at world ``tick``."""
        return float(np.interp(tick, self._ticks, self._ratios))

    def learned(self, rng_key: np.ndarray, tick: int, gen: np.ndarray,
                out: np.ndarray) -> float:
        """Write the learned-slot mask for ``tick`` into ``out`` (bool, one per slot);
        returns the ratio used. ``rng_key`` and ``gen`` are the world's sections."""
        r = self.ratio(tick)
        key = np.uint64(rng_key[POLICY]) ^ ANNEAL_SALT
        if r >= 1.0:
            out[...] = True
        elif r <= 0.0:
            out[...] = False
        elif self.cfg.unit == "agents":
            np.less(uniform(key, self._slots, gen), r, out=out)
        else:
            np.less(uniform(key, np.full_like(self._slots, tick), self._slots), r, out=out)
        return r
