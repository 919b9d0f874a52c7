"""The registered schema migrations (imported by :mod:`townlet.snapshots.migrations`).

Schema 1 kept one signed score per relationship tie, ``rel_value`` (N, K) float32 in
[-1, 1], as upstream Townlet's ledger did before it grew familiarity and rivalry.
Schema 2 splits a tie into ``rel_trust``, ``rel_fam`` and ``rel_riv``. The step follows the
rule upstream used for legacy ledgers: the old score becomes trust, and familiarity and
rivalry start at zero (they rebuild from interactions after the load).

Schema 3 adds ``evt_stale``, the flag saying whether the recorded events are a finished
tick's (so the next step starts a new batch) or still open (an intervention after the last
step: the next step appends to them). Schema 2 loads always started a new batch, which is
what the step writes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from townlet.snapshots.errors import SnapshotStateError
from townlet.snapshots.format import SnapshotHeader
from townlet.snapshots.migrations import Sections, register

__all__ = ["add_event_batch_flag", "split_relationship_score"]


@register(1, "split rel_value into rel_trust, rel_fam, rel_riv (old score read as trust)")
def split_relationship_score(old: Mapping[str, np.ndarray], header: SnapshotHeader) -> Sections:
    """Schema 1 -> 2: one relationship score per tie becomes trust/familiarity/rivalry."""
    for name in ("rel_other", "rel_value"):
        if name not in old:
            raise SnapshotStateError(name, "missing from a schema 1 snapshot")
    for name in ("rel_trust", "rel_fam", "rel_riv"):
        if name in old:
            raise SnapshotStateError(name, "already present in a schema 1 snapshot")
    value, other = old["rel_value"], old["rel_other"]
    if value.dtype != np.float32 or value.shape != other.shape:
        raise SnapshotStateError(
            "rel_value", f"expected float32{other.shape}, got {value.dtype}{value.shape}"
        )
    tie = other >= 0
    new = {k: v for k, v in old.items() if k != "rel_value"}
    new["rel_trust"] = np.where(tie, np.clip(value, -1.0, 1.0), 0.0).astype(np.float32)
    new["rel_fam"] = np.zeros(value.shape, np.float32)
    new["rel_riv"] = np.zeros(value.shape, np.float32)
    return new


@register(2, "add evt_stale (events of a finished tick: the next step starts a new batch)")
def add_event_batch_flag(old: Mapping[str, np.ndarray], header: SnapshotHeader) -> Sections:
    """Schema 2 -> 3: the pending event batch becomes part of the state."""
    if "evt_stale" in old:
        raise SnapshotStateError("evt_stale", "already present in a schema 2 snapshot")
    return {**old, "evt_stale": np.ones(1, np.uint8)}
