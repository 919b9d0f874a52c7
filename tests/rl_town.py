"""Real towns for exercising the RL kernels on hand-placed agents: a ``World``'s own
state arrays (live), edited the way the kernel edits them."""

from __future__ import annotations

import numpy as np

from townlet.config import TownletConfig
from townlet.world import World
from townlet.world.params import KernelParams, kernel_params
from townlet.world.state import State


def make_state(cfg: TownletConfig, seed: int = 0) -> tuple[State, KernelParams, World]:
    """A fresh world's live state, its kernel parameters and the world itself."""
    world = World(cfg, seed=seed)
    st = State(**world.sections())
    st.evt_len[0] = 0
    return st, kernel_params(world.params), world


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


def tie(st: State, a: int, b: int, trust=0.0, fam=0.0, riv=0.0) -> None:
    """Set a's tie toward b (in its first free slot)."""
    k = int(np.flatnonzero(st.rel_other[a] < 0)[0])
    st.rel_other[a, k] = b
    st.rel_trust[a, k] = trust
    st.rel_fam[a, k] = fam
    st.rel_riv[a, k] = riv
