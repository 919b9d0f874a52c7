"""State sections that are a function of other sections, and how to recompute them.

``tile_head`` (the first agent of each tile's occupancy list) follows from the agents'
own links: the lists are doubly linked through ``agent_t_prev``/``agent_t_next``, every
living agent is on the list of its tile (``tile_link`` on arrival and on every move,
``tile_unlink`` on every move and removal), and the head is the one member without a
predecessor. At 1M agents it is the largest array of the state (80 MB), written at
scattered places by every tick, so an autosave recomputes it on its writer thread from
the captured agent columns instead of copying it on the tick thread
(``townlet.snapshots.capture``); the result is the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from townlet.world.jit import kernel

__all__ = ["DERIVED", "derive", "tile_heads"]

DERIVED = ("tile_head",)
"""Sections :func:`derive` recomputes; the sections they are computed from are not here."""


@kernel
def tile_heads(alive, x, y, t_prev, out):
    """Write into ``out`` (rows x columns) the head of every tile's agent list, -1 where
    no agent stands."""
    out[:] = -1
    for i in range(alive.shape[0]):
        if alive[i] and t_prev[i] < 0:
            out[y[i], x[i]] = i


def derive(sections: Mapping[str, np.ndarray]) -> None:
    """Recompute every :data:`DERIVED` section of ``sections`` in place from the others."""
    tile_heads(sections["agent_alive"], sections["agent_x"], sections["agent_y"],
               sections["agent_t_prev"], sections["tile_head"])
