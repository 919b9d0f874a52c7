"""Compiler flags for every kernel function, in one place.

``nogil``: a tick releases the GIL, so the console's and the frame writer's
threads keep serving while the town computes. No fastmath and no parallel
loops: the state feeds frames and hashes and must not depend on the thread count.
(Forcing Numba-level inlining of the per-agent helpers was measured: 30% faster
ticks for a 20x longer first compile; not worth it. What made the helpers cheap
instead is calling them on borrowed struct views, see townlet.world.borrow.)
"""

from __future__ import annotations

from numba import njit

__all__ = ["kernel"]

kernel = njit(cache=True, nogil=True)
