"""State sections that are a function of other sections, and how to recompute them.

Each is kept by the tick for speed (O(1) lookups from the other side); each follows
exactly from the agents' own columns, which is what an autosave uses: it recomputes
them on its writer thread from the captured agent columns instead of copying them on
the tick thread (``townlet.snapshots.capture``), and the result is the same bytes.

``tile_head`` (the first agent of each tile's occupancy list) follows from the agents'
own links: the lists are doubly linked through ``agent_t_prev``/``agent_t_next``, every
living agent is on the list of its tile (``tile_link`` on arrival and on every move,
``tile_unlink`` on every move and removal), and the head is the one member without a
predecessor. At 1M agents it is the largest array of the state (80 MB), written at
scattered places by every tick.

An object's reservation side (``townlet.world.queues``) mirrors its agents': the holder
is the agent whose ``agent_resv`` is HOLDING with ``agent_obj`` that object, and the
queue is its WAITING agents, linked through ``agent_q_prev``/``agent_q_next`` (head: no
predecessor, tail: no successor). An agent leaving anything clears both sides at once
(``leave_queue``, ``release``, ``grant_next``), a removed agent leaves first.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from townlet.world.jit import kernel
from townlet.world.state import Resv

__all__ = ["DERIVED", "derive", "reservations", "tile_heads"]

DERIVED = ("tile_head", "obj_holder", "obj_q_head", "obj_q_tail", "obj_q_len")
"""Sections :func:`derive` recomputes; the sections they are computed from are not here."""


@kernel
def tile_heads(alive, x, y, t_prev, out):
    """Write into ``out`` (rows x columns) the head of every tile's agent list, -1 where
    no agent stands."""
    out[:] = -1
    for i in range(alive.shape[0]):
        if alive[i] and t_prev[i] < 0:
            out[y[i], x[i]] = i


@kernel
def reservations(obj, resv, q_prev, q_next, holder, head, tail, length):
    """Write every object's holder, queue head, tail and length from the agents' side."""
    holder[:] = -1
    head[:] = -1
    tail[:] = -1
    length[:] = 0
    for i in range(obj.shape[0]):
        o = obj[i]
        if o < 0:
            continue
        if resv[i] == Resv.HOLDING:
            holder[o] = i
        elif resv[i] == Resv.WAITING:
            length[o] += 1
            if q_prev[i] < 0:
                head[o] = i
            if q_next[i] < 0:
                tail[o] = i


def derive(sections: Mapping[str, np.ndarray]) -> None:
    """Recompute every :data:`DERIVED` section of ``sections`` in place from the others."""
    s = sections
    tile_heads(s["agent_alive"], s["agent_x"], s["agent_y"], s["agent_t_prev"], s["tile_head"])
    reservations(s["agent_obj"], s["agent_resv"], s["agent_q_prev"], s["agent_q_next"],
                 s["obj_holder"], s["obj_q_head"], s["obj_q_tail"], s["obj_q_len"])
