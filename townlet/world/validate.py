"""Range checks for state loaded from outside (snapshots, ``load_sections``).

The compiled kernel indexes arrays with values it reads from the state and does
no bounds checking, so a crafted file with an out-of-range index would crash the
process. Every field that holds an index or a code is listed here with its valid
range; a violation names the field and the offending value.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from townlet.world.actions import N_ACTIONS, Goal, Shift
from townlet.world.geometry import TILE
from townlet.world.params import PERT_KINDS
from townlet.world.state import (
    PACKED,
    PRICES,
    Ctl,
    Econ,
    ExitMeta,
    PertMeta,
    Resv,
    ShiftTicks,
    State,
)
from townlet.world.town import BLD, OBJ_NAMES

__all__ = ["ENTRY_RANGES", "StateRangeError", "check_ranges"]

# field -> (lowest, symbol or number of the exclusive upper bound)
_RANGES: dict[str, tuple[int, str | int]] = {
    **{f: (-1, "N") for f in ("agent_q_next", "agent_q_prev", "agent_t_next", "agent_t_prev",
                              "obj_holder", "obj_q_head", "obj_q_tail", "tile_head",
                              "rel_other", "exit_queue", "pert_agents")},
    **{f: (-1, "M") for f in ("agent_obj", "agent_dest", "agent_cool_obj")},
    "agent_bed": (0, "M"), "agent_home": (0, "B"), "agent_work": (0, "B"),
    "agent_meet_bld": (-1, "B"), "district_grocer": (0, "B"), "district_cafe": (0, "B"),
    "agent_district": (0, "D"), "bld_district": (-1, "D"),
    "agent_x": (0, "X"), "obj_x": (0, "X"), "obj_ax": (0, "X"),
    "agent_y": (0, "H"), "obj_y": (0, "H"), "obj_ay": (0, "H"),
    "agent_job": (0, "J"), "agent_aff": (-1, "A"), "pert_spec": (-1, "S"),
    "pert_target": (-1, "T"), "pert_kind": (-1, len(PERT_KINDS)),
    "agent_goal": (0, len(Goal)), "agent_action": (-1, N_ACTIONS),
    "agent_possessed_action": (0, N_ACTIONS), "agent_resv": (0, len(Resv)),
    "agent_shift": (0, len(Shift)), "obj_type": (-1, len(OBJ_NAMES)),
    "bld_kind": (0, len(BLD)), "tile_kind": (0, len(TILE)), "obj_q_len": (0, "N1"),
    "evt_len": (0, "E1"), "evt_stale": (0, 2),
}

ENTRY_RANGES: dict[type[IntEnum], dict[IntEnum, tuple[int, str | int | None]]] = {
    ExitMeta: {ExitMeta.HEAD: (0, "Q"), ExitMeta.LENGTH: (0, "Q1"),
               ExitMeta.EXITS_TODAY: (0, None), ExitMeta.LAST_TICK: (0, "T1"),
               ExitMeta.BATCH: (0, "D1")},
    Econ: {Econ.DUE: (0, None), Econ.SAVINGS: (0, None)},
    Ctl: {Ctl.EXIT_CAP: (0, None), Ctl.RESPAWN_DELAY: (0, None), Ctl.MORTALITY: (0, 2)},
    PertMeta: {PertMeta.NEXT_ID: (0, None), PertMeta.LAST_SCHEDULED: (0, "T1")},
    ShiftTicks: {ShiftTicks.ON_TIME: (0, None), ShiftTicks.LATE: (0, None),
                 ShiftTicks.DONE: (0, None)},
}
"""Range of each named entry of the packed fields (``state.PACKED``), per enum (members of
different enums share values); a number: that bound; None: no upper bound. A missing entry fails the check."""


class StateRangeError(ValueError):
    """A loaded state section holds a value the kernel cannot index with."""

    def __init__(self, section: str, reason: str) -> None:
        self.section = section
        super().__init__(f"state section {section!r}: {reason}")


def _check(name: str, arr: np.ndarray, lo: int, top: int) -> None:
    if arr.size and (arr.min() < lo or arr.max() >= top):
        bad = arr[(arr < lo) | (arr >= top)].flat[0]
        raise StateRangeError(name, f"value {int(bad)} outside [{lo}, {top})")


def check_ranges(state: State, jobs: int, affordances: int, specs: int) -> None:
    """Raise ValueError naming the first field holding a value outside its range."""
    n, m = state.agent_alive.size, state.obj_type.size
    districts = state.district_power.size
    bounds = {"N": n, "M": m, "B": state.bld_kind.size, "D": districts,
              "X": state.tile_kind.shape[1], "H": state.tile_kind.shape[0], "J": jobs,
              "A": affordances, "S": specs, "T": max(districts, len(PRICES)), "N1": n + 1,
              "E1": state.evt_code.size + 1, "Q": n, "Q1": n + 1, "D1": districts + 1,
              "T1": int(state.clock[0]) + 1, None: np.iinfo(np.int64).max}
    for name, (lo, hi) in _RANGES.items():
        _check(name, getattr(state, name), lo, bounds[hi] if isinstance(hi, str) else hi)
    for name, entries in PACKED.items():
        arr, rules = getattr(state, name), ENTRY_RANGES[entries]
        for e in entries:
            low, top = rules[e]
            _check(f"{name}[{e.name}]", arr[..., e], low,
                   top if isinstance(top, int) else bounds[top])
    if not np.isfinite(state.agent_needs).all():
        raise StateRangeError("agent_needs", "NaN or infinity")
