"""Fill a frame with the world's state at one tick, costing the tick thread little.

A frame is a private set of arrays that nothing writes after the capture, so a
background thread may checksum and write it while the town ticks on. Four kinds of
section, with what each costs the tick thread:

- the town's layout (``townlet.world.state.TOWN_FIELDS``) is never written after the
  world is built: the frame holds read-only views of the live arrays, nothing is copied;
- derived sections (``townlet.world.derived.DERIVED``, the tile occupancy heads, the
  largest and most scattered array) are recomputed from the frame's own agent columns
  on the helper thread, after the copy, and before anything reads the frame;
- the agents' own rows and the object, shop, exit-ring and event sections
  (``townlet.world.state.AHEAD_FIELDS``, most of the bytes) are copied by the helper
  while the next tick already runs, the tick copying a block itself only where it is
  about to write one the helper has not reached (``World.copy_ahead``,
  townlet.world.ahead);
- everything else (under 1 MB at 1M agents) is copied by the tick thread before it
  returns; only then may the next tick write the state.

The frame is therefore bit-identical to a copy of every array taken between two ticks.
Without a helper, or where the world cannot copy ahead, every section but the layout
and the derived ones is copied in chunks that the tick thread and the helper take from
the two ends of one queue, so each copies about half.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future

import numpy as np

from townlet.world.derived import DERIVED, derive
from townlet.world.state import AHEAD_FIELDS, TOWN_FIELDS

__all__ = ["BLOCK_BYTES", "BLOCK_ROWS", "CHUNK_BYTES", "Helper", "fill_frame", "new_frame"]

CHUNK_BYTES = 4 << 20
"""Bytes per copy job: large enough that a job's Python overhead is noise, small enough
that the two threads finish within a chunk of each other."""

BLOCK_ROWS = 2048
"""Agent slots per block of a copy ahead (~650 KB of rows): the tick waits at most one
block's copy where it meets the helper, and claims a block in a few nanoseconds."""

BLOCK_BYTES = 16 << 10
"""Bytes per block of the other sections copied ahead (objects, shops, exit ring, events):
the tick writes them at scattered places, and copies a block it reaches first itself,
so a block is small (~2 us to copy)."""

Helper = Callable[[Callable[[], None]], Future[None]]
"""Runs a job on a helper thread; the jobs it runs later see everything the job did
(a single-thread executor's ``submit``)."""

_SHARED = frozenset(TOWN_FIELDS)
_DERIVED = frozenset(DERIVED)
_AHEAD = frozenset(AHEAD_FIELDS)


def new_frame(live: Mapping[str, np.ndarray],
              into: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """The frame's arrays: ``into``'s when its layout matches ``live`` (a frame handed
    back after its write: no allocation), fresh ones otherwise; layout sections are
    read-only views of the live arrays."""
    same = into is not None and into.keys() == live.keys() and all(
        into[k].dtype == v.dtype and into[k].shape == v.shape for k, v in live.items())
    frame = {}
    for name, arr in live.items():
        if name in _SHARED:
            frame[name] = arr.view()
            frame[name].flags.writeable = False  # the live array: nobody may write it here
        elif same and into is not None and into[name] is not arr:
            frame[name] = into[name]
        else:
            frame[name] = np.empty_like(arr)
    return frame


def _jobs(live: Mapping[str, np.ndarray], frame: Mapping[str, np.ndarray],
          skip: frozenset[str]) -> deque[tuple[np.ndarray, np.ndarray]]:
    """(destination, source) pairs of at most about CHUNK_BYTES, split along the first
    axis, for every section that is copied here (not in ``skip``)."""
    jobs: deque[tuple[np.ndarray, np.ndarray]] = deque()
    for name, src in live.items():
        if name in _SHARED or name in _DERIVED or name in skip:
            continue
        dst = frame[name]
        rows = src.shape[0] if src.ndim else 1
        step = max(1, CHUNK_BYTES // max(1, src.nbytes // max(1, rows)))
        if src.ndim == 0 or rows <= step:
            jobs.append((dst, src))
            continue
        for lo in range(0, rows, step):
            jobs.append((dst[lo:lo + step], src[lo:lo + step]))
    return jobs


def _drain(take: Callable[[], tuple[np.ndarray, np.ndarray]]) -> None:
    """Copy jobs until the queue is empty (``deque.pop``/``popleft`` are atomic)."""
    while True:
        try:
            dst, src = take()
        except IndexError:
            return
        np.copyto(dst, src)  # releases the GIL: the other thread copies meanwhile


def fill_frame(live: Mapping[str, np.ndarray], frame: dict[str, np.ndarray],
               helper: Helper | None = None, ahead: Callable[[], None] | None = None) -> None:
    """Copy ``live`` into ``frame`` (from :func:`new_frame`) and fill its derived sections.

    Without ``helper`` all of it runs here. With one, the helper takes half of the copy
    and then computes the derived sections; this returns once every copy job is done (so
    ``live`` may change again), and the helper's later jobs see the complete frame.
    ``ahead`` (with ``helper``): a copy ahead's ``run`` (``World.copy_ahead``), which
    copies the ``AHEAD_FIELDS`` on the helper; the rest is small, this thread copies it
    first and then hands the copy ahead to the helper, which starts it once this thread
    releases the GIL (at the latest when the next tick starts): this thread never waits
    for the helper, nor the helper's start for a GIL this thread holds.
    """
    jobs = _jobs(live, frame, _AHEAD if ahead is not None else frozenset())
    if helper is None:
        _drain(jobs.popleft)
        derive(frame)
        return
    if ahead is not None:
        run = ahead

        def copy_ahead_then_derive() -> None:
            run()
            derive(frame)

        _drain(jobs.popleft)
        helper(copy_ahead_then_derive)
        return
    copied, ours_done = threading.Event(), threading.Event()

    def assist() -> None:
        try:
            _drain(jobs.pop)
        finally:
            copied.set()
        ours_done.wait()
        derive(frame)

    helper(assist)
    try:
        _drain(jobs.popleft)
    finally:
        ours_done.set()
    copied.wait()
