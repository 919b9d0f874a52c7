"""Compiler flags for every kernel function, in one place.

``nogil``: a tick releases the GIL, so the console's and the frame writer's
threads keep serving while the town computes. No fastmath: the state feeds frames
and hashes. :data:`parallel_kernel` is for phases whose iterations write only their
own agent's row (no reductions, no shared counters), so their result cannot depend
on the thread count (townlet.world.kernel ``decay_local``).
With ``NUMBA_DISABLE_JIT=1`` every kernel function runs as plain Python
(:data:`INTERPRETED`), so a tick can be stepped through with a debugger: the
kernel then receives the state and params namedtuples themselves instead of
their StructRef views (same attribute names), see docs/world.md.
Helpers are called on borrowed struct views (townlet.world.borrow), which keeps a
call cheap; :data:`inline_kernel` marks the few the tick runs for every agent on
every tick (the per-agent tick, needs, decide and its tests, pursuit, stepping, and
the small leaf helpers they call every tick: need decay, geometry, shift and hash),
which Numba inlines into their caller (a call between kernel functions crosses
compiled libraries, so LLVM cannot inline it itself): together 0.75x the tick's CPU time at 100k
agents for ~40% more first-compile time. Inlining every helper was measured at a
20x longer first compile, so everything else stays a call.
"""

from __future__ import annotations

from typing import Final

from numba import config, njit

__all__ = ["INTERPRETED", "inline_kernel", "kernel", "parallel_kernel", "uncounted_kernel"]

INTERPRETED: Final = bool(config.DISABLE_JIT)
"""True under ``NUMBA_DISABLE_JIT=1``: kernels run uncompiled, on plain namedtuples."""

kernel = njit(cache=True, nogil=True)
parallel_kernel = njit(cache=True, nogil=True, parallel=True)
inline_kernel = njit(cache=True, nogil=True, inline="always")
"""For a helper on the tick's per-agent hot path with few callers: Numba inlines it
into each caller (no call, no spilled registers, no array pointers reloaded after
it). Called from Python it compiles as any kernel."""
uncounted_kernel = njit(cache=True, nogil=True, _nrt=False)
"""For the turn loop (townlet.world.kernel ``turns``), which sees only borrowed views
(MemInfo cleared, townlet.world.borrow) and allocates nothing: compiled without Numba's
reference counting, so the ``NRT_incref``/``NRT_decref`` calls the pruning leaves on
array attributes and row views (no-ops on a cleared MemInfo, but calls that spill the
loop's registers) are not emitted at all. The helpers inlined into it compile the same
way; a helper it calls compiles with its own flags. A StructRef itself needs reference
counting, so the same loop on the StructRefs is a second, counted kernel
(``counted_turns``)."""
