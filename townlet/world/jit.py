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
(Forcing Numba-level inlining of the per-agent helpers was measured: 30% faster
ticks for a 20x longer first compile; not worth it. What made the helpers cheap
instead is calling them on borrowed struct views, see townlet.world.borrow.)
"""

from __future__ import annotations

from typing import Final

from numba import config, njit

__all__ = ["INTERPRETED", "inline_kernel", "kernel", "parallel_kernel"]

INTERPRETED: Final = bool(config.DISABLE_JIT)
"""True under ``NUMBA_DISABLE_JIT=1``: kernels run uncompiled, on plain namedtuples."""

kernel = njit(cache=True, nogil=True)
parallel_kernel = njit(cache=True, nogil=True, parallel=True)
inline_kernel = njit(cache=True, nogil=True, inline="always")
"""For a per-agent helper on the tick's hot path with one or two callers: Numba
inlines it into each caller (no call, no spilled registers, no reloaded array
pointers after it), at a few seconds of compile time each."""
