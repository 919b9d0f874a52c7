"""Change marks: per 4 KiB block of a few frame columns, when it last changed.

A written frame copies every state column into a ring slot, though most blocks of the
columns in :data:`MARKED` are the same bytes the slot already holds from its previous
frame (they change rarely, or only at a few agents or objects a tick). The frame
writer (townlet.frames.writer) copies such a block only if it changed after the slot
was last written. For that, every store the kernel makes to a marked column goes
through :func:`put`, which stamps the block with ``now`` when the value changed; the
writer stamps nothing, but bumps ``now`` after each frame it writes, so a block changed
after a slot's frame carries a larger stamp than the one the slot remembers.

Marks are not state: they are neither hashed nor saved, and a world's marks hold for
its current arrays only. Anything that writes a marked column outside :func:`put` (a
state load, an operator's write from Python) must call :meth:`Marks.touch_all`, which
stamps every block, so the next frame of every slot copies them all again.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from townlet.world.jit import INTERPRETED, inline_kernel
from townlet.world.names import record_type
from townlet.world.state_tuple import State

__all__ = ["BLOCK", "MARKED", "Marks", "Mk", "put"]

MARKED = ("agent_alive", "agent_gen", "agent_wallet", "agent_shift", "agent_action",
          "agent_flags", "obj_q_len", "obj_stock", "obj_disabled")
"""The frame columns with change marks (one-dimensional): those whose 4 KiB blocks
mostly stay the same from one frame to the next (docs/architecture.md, frame census)."""

Mk = record_type("MarkedColumns", (name.upper() for name in MARKED))(*range(len(MARKED)))
"""Each marked column's row in ``Marks.at`` (``Mk.AGENT_WALLET`` ...), for the kernel."""

SHIFT = 12
BLOCK = 1 << SHIFT
"""Bytes a mark covers (a 4 KiB page of the column)."""


class Marks:
    """The marks of ``state``'s :data:`MARKED` columns: ``at`` (one row per column, one
    stamp per block; a short column leaves the end of its row unused) and ``now`` (the
    stamp :func:`put` writes, one element). They describe the arrays ``arrays`` only."""

    columns = MARKED
    shift = SHIFT

    def __init__(self, state: State) -> None:
        self.arrays = tuple(getattr(state, name) for name in MARKED)
        """The arrays the marks describe (a frame writer checks it copies these)."""
        self.blocks = tuple(-(-a.nbytes // BLOCK) for a in self.arrays)
        """Blocks of each marked column."""
        self.at = np.zeros((len(MARKED), max(1, *self.blocks)), np.int64)
        self.now = np.zeros(1, np.int64)

    def cover(self, state: State) -> None:
        """Describe ``state``'s arrays instead (a load replaced them; same shapes), all of
        whose blocks count as changed."""
        arrays = tuple(getattr(state, name) for name in MARKED)
        if tuple(-(-a.nbytes // BLOCK) for a in arrays) != self.blocks:
            raise ValueError("the marked columns changed size")
        self.arrays = arrays
        self.touch_all()

    def covers(self, sections: Mapping[str, np.ndarray]) -> bool:
        """Whether ``sections`` hold exactly the arrays these marks describe."""
        return all(sections.get(name) is a for name, a in zip(MARKED, self.arrays, strict=True))

    def touch_all(self) -> None:
        """Stamp every block: the next frame of every slot copies the marked columns whole
        (after a write that bypassed :func:`put`)."""
        self.at.fill(self.now[0])


@inline_kernel
def _put(s, a, c, i, v):
    """``a[i] = v`` for marked column ``a`` (row ``c`` of the marks): stamp its block if
    the stored value differs from the old one."""
    old = a[i]
    a[i] = v
    if a[i] != old:
        s.mark_at[c, (i * a.itemsize) >> SHIFT] = s.mark_now[0]


def _plain(s, a, c, i, v):
    """Interpreted kernels (no marks: their world's frames copy every block)."""
    a[i] = v


put = _plain if INTERPRETED else _put
