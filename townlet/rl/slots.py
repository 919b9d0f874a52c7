"""Identity embedding slots with a reuse cooldown (SPEC/learning.md §2.5).

An agent keeps its slot while alive. A new agent takes (1) the lowest slot
never used, else (2) the free slot released earliest if it has cooled for
``cooldown_ticks``, else (3) that same slot as a counted *forced reuse*.
Released slots wait in a FIFO ring in release order (ties within one tick in
ascending slot order), so the earliest-released slot is always its head and
every operation is O(1). All state lives in arrays (snapshot-able).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["META_FIELDS", "allocate", "new_slot_arrays", "release_sorted", "slot_metrics"]

META_FIELDS = ("fifo_head", "fifo_len", "next_fresh", "allocations_total", "forced_reuse_count")
HEAD, LEN, FRESH, ALLOCS, FORCED = range(5)


def new_slot_arrays(max_slots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fifo ring, release tick per slot, meta counters) for ``max_slots`` slots."""
    return (np.full(max_slots, -1, np.int32), np.full(max_slots, -1, np.int64),
            np.zeros(len(META_FIELDS), np.int64))


@njit(cache=True)
def allocate(fifo, release, meta, tick, cooldown):
    """Take a slot for a new agent at ``tick``; -1 only if every slot is assigned."""
    n = fifo.shape[0]
    if meta[FRESH] < n:
        slot = meta[FRESH]
        meta[FRESH] += 1
    elif meta[LEN] > 0:
        slot = fifo[meta[HEAD]]
        meta[HEAD] = (meta[HEAD] + 1) % n
        meta[LEN] -= 1
        if tick - release[slot] < cooldown:
            meta[FORCED] += 1
    else:
        return -1
    meta[ALLOCS] += 1
    return slot


@njit(cache=True)
def release_sorted(fifo, release, meta, slots, count, tick):
    """Release ``slots[:count]`` at ``tick`` (sorted first: ties go to lower slots)."""
    batch = np.sort(slots[:count])
    n = fifo.shape[0]
    for s in batch:
        fifo[(meta[HEAD] + meta[LEN]) % n] = s
        meta[LEN] += 1
        release[s] = tick


def slot_metrics(meta: np.ndarray, threshold: float) -> dict[str, float | int | bool]:
    """allocations_total, forced_reuse_count, forced_reuse_rate and reuse_warning."""
    total, forced = int(meta[ALLOCS]), int(meta[FORCED])
    rate = forced / total if total else 0.0
    return {"allocations_total": total, "forced_reuse_count": forced,
            "forced_reuse_rate": rate, "reuse_warning": rate > threshold}
