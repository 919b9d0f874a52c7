"""Range checks for state loaded from outside (snapshots, ``load_sections``).

The compiled kernel indexes arrays with values it reads from the state and does
no bounds checking, so a crafted file with an out-of-range index would crash the
process. Every field that holds an index or a code is listed here with its valid
range; a violation names the field and the offending value.
"""

from __future__ import annotations

import numpy as np

from townlet.world.actions import N_ACTIONS, Goal, Shift
from townlet.world.geometry import TILE
from townlet.world.params import PERT_KINDS
from townlet.world.state import EXIT_QUEUE, State
from townlet.world.town import BLD, OBJ_NAMES

__all__ = ["check_ranges"]

# field -> (lowest, symbol or number of the exclusive upper bound)
_RANGES = {
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
    "agent_possessed_action": (0, N_ACTIONS), "agent_resv": (0, 3),
    "agent_shift": (0, len(Shift)), "obj_type": (-1, len(OBJ_NAMES)),
    "bld_kind": (0, len(BLD)), "tile_kind": (0, len(TILE)), "obj_q_len": (0, "N1"),
    "evt_len": (0, "E1"), "exit_meta": (0, "Q1"),
}


def check_ranges(state: State, jobs: int, affordances: int, specs: int) -> None:
    """Raise ValueError naming the first field holding a value outside its range."""
    n, m = state.agent_alive.size, state.obj_type.size
    districts = state.district_power.size
    bounds = {"N": n, "M": m, "B": state.bld_kind.size, "D": districts,
              "X": state.tile_kind.shape[1], "H": state.tile_kind.shape[0], "J": jobs,
              "A": affordances, "S": specs, "T": max(districts, 4), "N1": n + 1,
              "E1": state.evt_code.size + 1, "Q1": EXIT_QUEUE + 1}
    for name, (lo, hi) in _RANGES.items():
        arr = getattr(state, name)
        top = bounds[hi] if isinstance(hi, str) else hi
        if arr.size and (arr.min() < lo or arr.max() >= top):
            bad = arr[(arr < lo) | (arr >= top)].flat[0]
            raise ValueError(f"state section {name!r}: value {int(bad)} outside [{lo}, {top})")
    head, length = int(state.exit_meta[0]), int(state.exit_meta[1])
    if head >= EXIT_QUEUE or length > EXIT_QUEUE:
        raise ValueError(f"state section 'exit_meta': queue head {head} / length {length} "
                         f"outside the {EXIT_QUEUE}-slot queue")
    if not np.isfinite(state.agent_wallet).all() or not np.isfinite(state.agent_needs).all():
        raise ValueError("state sections 'agent_wallet'/'agent_needs' hold NaN or infinity")
