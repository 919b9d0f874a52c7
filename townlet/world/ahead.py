"""Copy ahead: an autosave's agent rows are copied while the next tick already runs.

An autosave's frame (townlet.snapshots.capture) must equal the state between two ticks.
The agents' own rows (``ROW_FIELDS``, ~320 bytes an agent) are most of it; instead of
copying them before the next tick, the tick starts at once and they are copied
meanwhile, on another thread:

- the rows are cut into blocks of ``rows`` agent slots, each with an entry in a table
  (``cap_state``, a member of the ``KernelState``): UNCOPIED, BUSY (being copied), COPIER
  (copied by the copier thread) or INLINE (copied by the tick itself);
- the copier (:meth:`Ahead.run`, compiled, without the GIL) claims the blocks in slot
  order with a compare-and-swap UNCOPIED -> BUSY, copies each and marks it COPIER;
- the tick makes sure a block is copied before it writes any of its rows: at each
  block of its slot loop (for the agents' own rows) and, through :func:`guard`, before
  every write to another agent's row (tile and queue links, ties and their evictions,
  a chat partner's need, meetings, a holder's affordance, a removal). A block still
  UNCOPIED it claims and copies itself; a BUSY one it waits for (the copier is on it);
- the slot loop takes every block in order, so after it nothing is left to copy: the
  exit phase and whatever follows the tick write freely. ``World`` calls
  :meth:`Ahead.finish` before anything else writes the state (an intervention, a load).

Exactness rests on one rule: no row is written between the capture and the copy of its
block. The copier's release store after its copy and the tick's acquire load before its
writes order them (townlet.world.atomic). Without a capture the table is empty and each
guard is one predictable branch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from townlet.world import atomic
from townlet.world.jit import INTERPRETED, inline_kernel, kernel
from townlet.world.state import ROW_FIELDS, State, kernel_state, row_bytes

__all__ = ["BUSY", "COPIER", "INLINE", "UNCOPIED", "Ahead", "frontier", "guard", "pending"]

UNCOPIED, BUSY, COPIER, INLINE = 0, 1, 2, 3
"""States of a block in the table; a block is copied once its state is COPIER or INLINE."""


@kernel
def _copy(s, b):
    """Copy block b of every agent row section into the frame."""
    lo = b * s.cap_rows
    hi = min(lo + s.cap_rows, s.agent_alive.shape[0])
    src, dst, width = s.cap_src, s.cap_dst, s.cap_width
    for k in range(len(src)):
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
        _take(s, j // s.cap_rows, INLINE)


@inline_kernel
def _frontier(s, i, copying):
    """In the slot loop, before agent i's turn: with a capture pending (``copying``, from
    ``pending``), take the block agent i starts, if it starts one."""
    if _rarely(copying) and i % s.cap_rows == 0:
        _take(s, i // s.cap_rows, INLINE)


@inline_kernel
def _pending(s):
    """Whether a capture is pending (its blocks may still need copying)."""
    return _rarely(s.cap_state.shape[0] != 0)


def _never(s, *args):
    """Interpreted kernels never have a capture pending (``World`` copies synchronously)."""
    return False


guard = _never if INTERPRETED else _guard
frontier = _never if INTERPRETED else _frontier
pending = _never if INTERPRETED else _pending


@kernel
def _run(s):
    """The copier: every block nobody claimed yet, in slot order; then wait for the
    blocks the tick is copying, so the frame is complete on return."""
    table = s.cap_state
    for b in range(table.shape[0]):
        if atomic.load(table, b) == UNCOPIED and atomic.cas(table, b, UNCOPIED, BUSY) == UNCOPIED:
            _copy(s, b)
            atomic.store(table, b, COPIER)
    for b in range(table.shape[0]):
        atomic.wait_until(table, b, COPIER)


@kernel
def _finish(s):
    """Copy (or wait for) every block not copied yet, on the calling thread."""
    for b in range(s.cap_state.shape[0]):
        _take(s, b, INLINE)


class Ahead:
    """A pending capture of the agent rows of ``state`` into ``frame``'s arrays (same
    names, dtypes and shapes), in blocks of ``rows`` agent slots. ``ks`` is the kernel
    struct the world ticks on until the capture is complete."""

    def __init__(self, state: State, frame: Mapping[str, np.ndarray], rows: int) -> None:
        if INTERPRETED:
            raise RuntimeError("copy ahead needs compiled kernels")
        if rows < 1:
            raise ValueError(f"rows per block must be >= 1, got {rows}")
        n = state.agent_alive.shape[0]
        live = [getattr(state, name) for name in ROW_FIELDS]
        for name, arr in zip(ROW_FIELDS, live):
            if frame[name].shape != arr.shape or frame[name].dtype != arr.dtype:
                raise ValueError(f"frame section {name!r} does not match the state")
        self.table = np.zeros(-(-n // rows), np.int32)
        width = np.array([arr.nbytes // max(1, n) for arr in live], np.int64)
        capture = (self.table, rows, row_bytes(live), row_bytes(frame[k] for k in ROW_FIELDS),
                   width)
        self.ks = kernel_state(state, capture)

    def run(self) -> None:
        """Copy the blocks nobody claimed; returns once every block is copied (run it on
        a thread of its own: it runs without the GIL)."""
        _run(self.ks)

    def finish(self) -> None:
        """Complete the copy on this thread (before the state is written otherwise)."""
        _finish(self.ks)

    def copied_by_tick(self) -> int:
        """Blocks the tick copied itself (the copier was behind)."""
        return int(np.count_nonzero(self.table == INLINE))
