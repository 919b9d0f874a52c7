"""Old snapshot layouts built from current sections, shared by the migration tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from townlet.config.money import MINOR_PER_UNIT
from townlet.snapshots.migration_steps import MONEY_SECTIONS, ROUTINE_SECTIONS

__all__ = ["as_schema1", "as_schema3", "as_schema4"]


def as_schema4(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 4 layout: no individual routines."""
    return {k: v for k, v in sections.items() if k not in ROUTINE_SECTIONS}


def as_schema3(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 3 layout: money as float units (wages today float32, the rest float64)."""
    old = as_schema4(sections)
    for name in MONEY_SECTIONS:
        dtype = np.float32 if name == "agent_wages_today" else np.float64
        old[name] = (sections[name] / MINOR_PER_UNIT).astype(dtype)
    return old


def as_schema1(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 1 layout: float money, one score per relationship tie (``rel_value``) and
    no pending-event flag (``evt_stale``, schema 3)."""
    old = {k: v for k, v in as_schema3(sections).items()
           if k not in ("rel_trust", "rel_fam", "rel_riv", "evt_stale")}
    old["rel_value"] = sections["rel_trust"]
    return old
