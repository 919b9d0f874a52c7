"""Counter-based random numbers: a draw is a hash of (stream key, counter, salt).

Per-agent draws hash (key, tick, agent) and need no state at all; sequential
draws (the perturbation scheduler) advance a per-stream counter. The whole RNG
state is therefore two small integer arrays, trivially snapshotted and never
dependent on thread count or call order across agents.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

from townlet.world.jit import INTERPRETED, kernel
from townlet.world.state import RNG_STREAMS

__all__ = ["EVENTS", "LIFECYCLE", "POLICY", "WORLD", "hash_u64", "next_uniform", "seed_keys",
           "uniform"]

WORLD, EVENTS, POLICY, LIFECYCLE = (RNG_STREAMS.index(n) for n in (
    "world", "events", "policy", "lifecycle"))

if INTERPRETED:  # the hash wraps uint64 products by design; compiled code does so silently
    warnings.filterwarnings("ignore", "overflow encountered in scalar multiply",
                            RuntimeWarning, __name__)


def seed_keys(seed: int, config_id: str) -> np.ndarray:
    """One 64-bit key per stream from SHA-256 of ``seed:config_id:stream``."""
    keys = [int.from_bytes(hashlib.sha256(f"{seed}:{config_id}:{name}".encode()).digest()[:8],
                           "little") for name in RNG_STREAMS]
    return np.array(keys, dtype=np.uint64)


@kernel
def hash_u64(key, a, b):
    """splitmix64 finaliser over key, a and b."""
    z = key ^ (np.uint64(a) * np.uint64(0x9E3779B97F4A7C15)) ^ (
        np.uint64(b) * np.uint64(0xC2B2AE3D27D4EB4F))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@kernel
def uniform(key, a, b):
    """A float in [0, 1) determined by (key, a, b)."""
    return np.float64(hash_u64(key, a, b) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel
def next_uniform(rng_key, rng_counter, stream):
    """The next float of a sequential stream (advances its counter)."""
    c = rng_counter[stream]
    rng_counter[stream] = c + np.uint64(1)
    return uniform(rng_key[stream], c, 0)
