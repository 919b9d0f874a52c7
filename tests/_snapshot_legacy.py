"""Old snapshot layouts built from current sections, shared by the migration tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from townlet.config.money import MINOR_PER_UNIT
from townlet.snapshots.migration_steps import (
    MONEY_SECTIONS,
    NEGLECT_STATS,
    ROUTINE_SECTIONS,
    SCHEMA7_PERT_SLOTS,
    SHOP_STATS,
)

__all__ = ["SHOP_SECTIONS", "as_schema1", "as_schema3", "as_schema4", "as_schema5",
           "as_schema6", "as_schema7"]

SHOP_SECTIONS = ("shop_level", "shop_markup", "pert_last", "pert_spec_cool")
"""Sections schema 8 adds or reshapes whose migrated values are defaults, not the live
ones (shops at the town price, the district cooldowns from the town-wide one)."""


def as_schema7(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 7 layout: ``agent_starving`` instead of ``agent_neglect``, no neglect or
    shop stats, no favourite cafes, no shop prices, a 16-slot perturbation table with
    town-wide spec cooldowns."""
    old = {k: v for k, v in sections.items() if k not in (
        "agent_neglect", "agent_favourite", "shop_level", "shop_markup", "pert_last")}
    old["agent_starving"] = sections["agent_neglect"][:, 0].copy()
    old["stats"] = sections["stats"][:-len(NEGLECT_STATS) - len(SHOP_STATS)].copy()
    for name, table in sections.items():
        if name.startswith("pert_") and name not in ("pert_meta", "pert_spec_cool",
                                                     "pert_last"):
            old[name] = table[:SCHEMA7_PERT_SLOTS].copy()
    old["pert_spec_cool"] = sections["pert_spec_cool"][:, 0].copy()
    return old


def as_schema6(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 6 layout: no treasury accounts (rent, endowment) and no ``econ``."""
    old = {k: v for k, v in as_schema7(sections).items() if k != "econ"}
    old["ledger"] = sections["ledger"][:6].copy()
    return old


def as_schema5(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 5 layout: no individual routines."""
    return {k: v for k, v in as_schema6(sections).items() if k not in ROUTINE_SECTIONS}


def as_schema4(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 4 layout: a 64-slot exit ring, no exit batch counter, no levers (ctl)."""
    old = {k: v for k, v in as_schema5(sections).items() if k != "ctl"}
    queue, meta = sections["exit_queue"], sections["exit_meta"]
    head, length = int(meta[0]), int(meta[1])
    ring = np.full(64, -1, np.int32)
    ring[:length] = queue[(head + np.arange(length)) % queue.size]
    old["exit_queue"] = ring
    old["exit_meta"] = np.array([0, length, meta[2], meta[3]], np.int32)
    return old


def as_schema3(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 3 layout: money as float units (wages today float32, the rest float64)."""
    old = as_schema4(sections)
    for name in MONEY_SECTIONS:
        dtype = np.float32 if name == "agent_wages_today" else np.float64
        old[name] = (old[name] / MINOR_PER_UNIT).astype(dtype)
    return old


def as_schema1(sections: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The schema 1 layout: float money, one score per relationship tie (``rel_value``) and
    no pending-event flag (``evt_stale``, schema 3)."""
    old = {k: v for k, v in as_schema3(sections).items()
           if k not in ("rel_trust", "rel_fam", "rel_riv", "evt_stale")}
    old["rel_value"] = sections["rel_trust"]
    return old
