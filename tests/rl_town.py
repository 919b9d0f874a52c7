"""A populated town state built from the real generator and the real state table,
for exercising the RL kernels on hand-placed agents (positions, needs, ties)."""

from __future__ import annotations

import numpy as np

from townlet.config import TownletConfig
from townlet.world.geometry import PERIOD
from townlet.world.state import State, allocate
from townlet.world.town import generate_town

TOWN_FIELDS = ("tile_kind", "bld_kind", "bld_district", "district_grocer", "district_cafe",
               "obj_type", "obj_x", "obj_y", "obj_ax", "obj_ay", "agent_home", "agent_bed",
               "agent_work", "agent_job", "agent_district")


def make_state(cfg: TownletConfig, seed: int = 0) -> State:
    """Every agent alive at the centre of its home, needs 0.8, wallet 4."""
    world = cfg.world
    town = generate_town(world, seed)
    n = world.town.agents
    sizes = {"N": n, "K": world.relationships.slots, "W": world.employment.attendance_window,
             "M": town.obj_type.size, "B": town.bld_kind.size, "D": town.districts,
             "H": town.tile_kind.shape[0], "X": town.tile_kind.shape[1], "E": 4096,
             "S": len(world.perturbations.events)}
    st = allocate(sizes)
    for name in TOWN_FIELDS:
        getattr(st, name)[...] = getattr(town, name)
    st.agent_alive[:] = 1
    st.agent_gen[:] = 1
    st.agent_needs[:] = 0.8
    st.agent_wallet[:] = 4.0
    st.agent_food[:] = 2
    bw = town.blocks_w
    st.agent_x[:] = (town.agent_home % bw) * PERIOD + 4
    st.agent_y[:] = (town.agent_home // bw) * PERIOD + 4
    st.price_base[:] = [0.0, world.economy.groceries, world.economy.cafe_meal,
                        world.economy.shower]
    st.price_now[:] = st.price_base
    st.clock[0] = 0
    relink(st)
    return st


def relink(st: State) -> None:
    """Rebuild the per-tile agent lists from positions (as the kernel maintains them)."""
    st.tile_head[:] = -1
    st.agent_t_next[:] = -1
    st.agent_t_prev[:] = -1
    for i in range(st.agent_alive.size - 1, -1, -1):
        if not st.agent_alive[i]:
            continue
        y, x = st.agent_y[i], st.agent_x[i]
        head = st.tile_head[y, x]
        st.agent_t_next[i] = head
        if head >= 0:
            st.agent_t_prev[head] = i
        st.tile_head[y, x] = i


def place(st: State, agent: int, x: int, y: int) -> None:
    st.agent_x[agent] = x
    st.agent_y[agent] = y
    relink(st)


def tie(st: State, a: int, b: int, trust=0.0, fam=0.0, riv=0.0, k: int | None = None) -> None:
    """Set a's tie toward b (in the first free slot unless k is given)."""
    if k is None:
        free = np.flatnonzero(st.rel_other[a] < 0)
        k = int(free[0])
    st.rel_other[a, k] = b
    st.rel_trust[a, k] = trust
    st.rel_fam[a, k] = fam
    st.rel_riv[a, k] = riv
