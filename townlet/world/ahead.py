"""Copy ahead: an autosave's big sections are copied while the next tick already runs.

An autosave's frame (townlet.snapshots.capture) must equal the state between two ticks.
The sections in :data:`GROUPS` (the agents' own rows, ~320 bytes an agent, and the
per-object, per-shop, exit-ring and event sections, ~26 MB at 1M agents) are most of it;
instead of copying them before the next tick, the tick starts at once and they are
copied meanwhile, on another thread:

- each group's sections share their first dimension (an agent, object, shop, ring
  place or event) and are cut into blocks of ``per`` entries, each block with an entry
  in one table (``cap_state``, a member of the ``KernelState``): UNCOPIED, BUSY (being
  copied), COPIER (copied by the copier thread) or INLINE (copied by the tick itself);
- the copier (:meth:`Ahead.run`, compiled, without the GIL) claims blocks with a
  compare-and-swap UNCOPIED -> BUSY, copies each and marks it COPIER. It keeps
  :data:`LEAD` blocks of rows ahead of the tick's slot loop (which publishes its block
  in ``cap_at``) and copies the other groups meanwhile, which the tick writes at
  scattered places from its first agent on;
- the tick makes sure a block is copied before it writes any of it: at each block of
  its slot loop (for the agents' own rows) and, through :func:`guard` (another agent's
  row) and :func:`guard_in` (an entry of another group), before every other write. A
  block still UNCOPIED it claims and copies itself; a BUSY one it waits for;
- ``World`` calls :meth:`Ahead.finish` after the tick and before anything else writes
  the state (an intervention, a load).

Exactness rests on one rule: nothing in a group is written between the capture and the
copy of its block. The copier's release store after its copy and the tick's acquire
load before its writes order them (townlet.world.atomic). Without a capture the table is
empty and each guard is one predictable branch.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from townlet.world import atomic
from townlet.world.jit import INTERPRETED, inline_kernel, kernel
from townlet.world.state import AHEAD_FIELDS, GROUPS, Group, State, kernel_state, row_bytes

__all__ = ["BUSY", "COPIER", "INLINE", "LEAD", "UNCOPIED", "Ahead", "frontier", "guard",
           "guard_in", "pending"]

UNCOPIED, BUSY, COPIER, INLINE = 0, 1, 2, 3
"""States of a block in the table; a block is copied once its state is COPIER or INLINE."""


LEAD = 16
"""Blocks of rows the copier keeps ahead of the tick's slot loop before it turns to the
other groups (a block of rows is ~0.1 ms of the tick at 2,048 agents: the copier may
fall ~1.5 ms behind its pace before the tick copies a block itself)."""


@kernel
def _copy(s, b):
    """Copy block b of every section of its group into the frame."""
    base = s.cap_base
    g = 0
    while b >= base[g + 1]:
        g += 1
    lo = (b - base[g]) * s.cap_per[g]
    hi = min(lo + s.cap_per[g], s.cap_len[g])
    src, dst, width = s.cap_src, s.cap_dst, s.cap_width
    for k in range(s.cap_group[g], s.cap_group[g + 1]):
        atomic.copy_bytes(dst[k], src[k], lo * width[k], hi * width[k])


@kernel
def _take(s, b, by):
    """Make sure block b is copied: claim and copy it (marking it ``by``), or wait
    while the other thread copies it."""
    table = s.cap_state
    if atomic.load(table, b) >= COPIER:
        return
    if atomic.cas(table, b, UNCOPIED, BUSY) == UNCOPIED:
        _copy(s, b)
        atomic.store(table, b, by)
        return
    atomic.wait_until(table, b, COPIER)  # BUSY: the other side copies it right now


@intrinsic
def _rarely(typingctx, cond):
    """``cond``, marked as expected false (``llvm.expect``): the compiler lays the taken
    path out of the way and keeps the common path's registers, so a check that is almost
    never true costs the tick only its test."""
    if not isinstance(cond, types.Boolean):
        return None

    def codegen(context, builder, sig, args):
        bit = ir.IntType(1)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(bit, [bit, bit]),
                                            "llvm.expect.i1")
        return builder.call(fn, [args[0], bit(0)])

    return types.boolean(cond), codegen


@inline_kernel
def _guard(s, j):
    """Before writing agent j's row: with a capture pending, make sure its block is copied."""
    if _rarely(s.cap_state.shape[0] != 0):
        _take(s, j // s.cap_per[Group.ROWS], INLINE)


@inline_kernel
def _guard_in(s, g, k):
    """Before writing entry k of group g's sections: with a capture pending, make sure
    its block is copied."""
    if _rarely(s.cap_state.shape[0] != 0):
        _take(s, s.cap_base[g] + k // s.cap_per[g], INLINE)


@inline_kernel
def _frontier(s, i, copying):
    """In the slot loop, before agent i's turn: with a capture pending (``copying``, from
    ``pending``), take the block agent i starts, if it starts one, and tell the copier."""
    if _rarely(copying) and i % s.cap_per[Group.ROWS] == 0:
        b = i // s.cap_per[Group.ROWS]
        atomic.store(s.cap_at, 0, b)
        _take(s, b, INLINE)


@inline_kernel
def _pending(s):
    """Whether a capture is pending (its blocks may still need copying)."""
    return _rarely(s.cap_state.shape[0] != 0)


def _never(s, *args):
    """Interpreted kernels never have a capture pending (``World`` copies synchronously)."""
    return False


guard = _never if INTERPRETED else _guard
guard_in = _never if INTERPRETED else _guard_in
frontier = _never if INTERPRETED else _frontier
pending = _never if INTERPRETED else _pending


@kernel
def _claim(s, b):
    """Copy block b as the copier unless someone claimed it already."""
    table = s.cap_state
    if atomic.load(table, b) == UNCOPIED and atomic.cas(table, b, UNCOPIED, BUSY) == UNCOPIED:
        _copy(s, b)
        atomic.store(table, b, COPIER)


@kernel
def _run(s):
    """The copier: the rows in slot order, up to LEAD blocks ahead of the tick, and the
    other groups' blocks whenever the rows are that far ahead; then wait for the blocks
    the tick is copying, so the frame is complete on return."""
    table = s.cap_state
    rows, end = s.cap_base[Group.ROWS + 1], table.shape[0]
    r, x = 0, rows
    while r < rows or x < end:
        if r < rows and (x >= end or r <= atomic.load(s.cap_at, 0) + LEAD):
            _claim(s, r)
            r += 1
        else:
            _claim(s, x)
            x += 1
    for b in range(end):
        atomic.wait_until(table, b, COPIER)


@kernel
def _finish(s):
    """Copy (or wait for) every block not copied yet, on the calling thread."""
    for b in range(s.cap_state.shape[0]):
        _take(s, b, INLINE)


class Ahead:
    """A pending capture of the :data:`GROUPS` sections of ``state`` into ``frame``'s
    arrays (same names, dtypes and shapes), in blocks of ``rows`` agent slots and, for
    the other groups, of about ``nbytes`` bytes. ``ks`` is the kernel struct the world
    ticks on until the capture is complete. Once its copier has run, :meth:`rearm`
    makes it a new capture into the same frame (the autosaver reuses its frame), which
    spares building the struct again."""

    def __init__(self, state: State, frame: Mapping[str, np.ndarray], rows: int,
                 nbytes: int) -> None:
        if INTERPRETED:
            raise RuntimeError("copy ahead needs compiled kernels")
        if rows < 1 or nbytes < 1:
            raise ValueError(f"rows and bytes per block must be >= 1, got {rows}, {nbytes}")
        live = [getattr(state, name) for name in AHEAD_FIELDS]
        for name, arr in zip(AHEAD_FIELDS, live):
            if frame[name].shape != arr.shape or frame[name].dtype != arr.dtype:
                raise ValueError(f"frame section {name!r} does not match the state")
        width = np.array([arr.nbytes // max(1, arr.shape[0]) for arr in live], np.int64)
        group, base, per, length = [0], [0], [], []
        for g, names in GROUPS.items():
            first = group[-1]
            group.append(first + len(names))
            length.append(live[first].shape[0])
            per.append(rows if g == Group.ROWS
                       else max(1, nbytes // int(width[first:group[-1]].sum())))
            base.append(base[-1] - (-length[-1] // per[-1]))
        self.table = np.zeros(base[-1], np.int32)
        self.rows = base[1]
        """Blocks of agent rows (the first entries of ``table``)."""
        capture = (self.table, np.zeros(1, np.int64), row_bytes(live),
                   row_bytes(frame[k] for k in AHEAD_FIELDS), width, np.array(group, np.int64),
                   np.array(base, np.int64), np.array(per, np.int64),
                   np.array(length, np.int64))
        self.ks = kernel_state(state, capture)
        self._key = (state, rows, nbytes, [frame[k] for k in AHEAD_FIELDS])
        self._at = capture[1]
        self._ran = threading.Event()

    def fits(self, state: State, frame: Mapping[str, np.ndarray], rows: int,
             nbytes: int) -> bool:
        """Whether :meth:`rearm` captures ``state`` into ``frame`` as a new handle would:
        the same arrays and blocks, and this handle's copier has returned."""
        old, old_rows, old_bytes, dst = self._key
        return (self._ran.is_set() and old is state and (old_rows, old_bytes) == (rows, nbytes)
                and all(frame[k] is a for k, a in zip(AHEAD_FIELDS, dst)))

    def rearm(self) -> None:
        """Start a new capture of the state as it is now (see :meth:`fits`)."""
        self._ran.clear()
        self.table[:] = UNCOPIED
        self._at[0] = 0

    def run(self) -> None:
        """Copy the blocks nobody claimed; returns once every block is copied (run it on
        a thread of its own: it runs without the GIL)."""
        _run(self.ks)
        self._ran.set()

    def finish(self) -> None:
        """Complete the copy on this thread (before the state is written otherwise)."""
        _finish(self.ks)

    def copied_by_tick(self) -> int:
        """Blocks the tick copied itself (the copier was behind)."""
        return int(np.count_nonzero(self.table == INLINE))
