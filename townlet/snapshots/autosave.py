"""Autosave every N ticks, off the simulation thread, keeping the newest K autosaves.

The tick thread only decides whether a save is due and, if so, copies the state (an
immutable frame nobody else references); the file is written by one background thread.
If the previous autosave is still being written when the next one falls due, the new
one is skipped and counted: the tick never waits for the disk. After each write, older
autosaves beyond ``keep_last`` are deleted -- only files named ``autosave-<tick>.tsnap``
whose header says ``origin: autosave``, never an operator's file.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Self

import msgspec
import numpy as np

from townlet.snapshots.errors import SnapshotError
from townlet.snapshots.format import SnapshotHeader
from townlet.snapshots.reader import read_header
from townlet.snapshots.temps import clean_temps
from townlet.snapshots.writer import write_snapshot

__all__ = ["AutosaveStats", "AutosaveStatus", "Autosaver", "autosave_name", "prune_autosaves"]

log = logging.getLogger("townlet.snapshots")
_NAME = re.compile(r"autosave-\d{12}\.tsnap\Z")

Frame = dict[str, np.ndarray]
Capture = Callable[[Frame | None], tuple[SnapshotHeader, Frame]]


def autosave_name(tick: int) -> str:
    """File name of the autosave taken at ``tick``."""
    return f"autosave-{tick:012d}.tsnap"


class AutosaveStats(msgspec.Struct, kw_only=True):
    """Counters for health and metrics."""

    saved: int = 0
    skipped_busy: int = 0
    failed: int = 0
    pruned: int = 0
    last_path: str | None = None
    last_error: str | None = None
    """Why the last attempt failed; None once an autosave succeeds again."""


class AutosaveStatus(msgspec.Struct, kw_only=True):
    """What the console's ``health`` shows for autosaves (``services.autosave``)."""

    ok: bool
    """False while the last autosave failed (e.g. the disk is full or read-only)."""
    state: str
    """``saving``, ``failing`` or ``idle``."""
    every: int
    saved: int
    failed: int
    skipped_busy: int
    last_path: str | None
    last_error: str | None


def prune_autosaves(directory: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` autosaves in ``directory``; return the deleted.

    "Newest" is by creation time in the header, so a run resumed from an older autosave
    does not have its fresh saves pruned in favour of the abandoned timeline's. Also
    removes stale temporary files (writers that died: :func:`~townlet.snapshots.temps.
    clean_temps`).
    """
    found: list[tuple[str, str, Path]] = []
    removed = [directory / t.name for t in clean_temps(directory)]
    for entry in directory.iterdir():
        if not _NAME.match(entry.name) or not entry.is_file() or entry.is_symlink():
            continue
        try:
            header = read_header(entry)
        except (SnapshotError, OSError) as exc:
            log.warning("autosave retention skips unreadable %s: %s", entry, exc)
            continue
        if header.origin == "autosave":
            found.append((header.created_at, entry.name, entry))
    found.sort()
    for _, _, path in found[: max(0, len(found) - keep_last)]:
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


class Autosaver:
    """Writes an autosave every ``every`` ticks into ``directory``.

    Parameters
    ----------
    directory
        Existing directory (the confined snapshot root).
    every
        Cadence in ticks; 0 disables autosaving.
    keep_last
        Autosaves to keep.
    """

    def __init__(self, directory: Path, every: int, keep_last: int) -> None:
        if every < 0 or keep_last < 1:
            raise ValueError(
                f"autosave needs every >= 0 and keep_last >= 1, got {every}, {keep_last}"
            )
        self.directory = Path(directory)
        self.every = every
        self.keep_last = keep_last
        self.stats = AutosaveStats()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="townlet-autosave")
        self._pending: Future[None] | None = None
        self._assists: list[Future[None]] = []
        self._lock = threading.Lock()
        self._last_tick = -1
        self._spare: Frame | None = None
        self._closing: list[Callable[[], None]] = []
        self.observe: Callable[[float, bool], None] | None = None
        """Called on the writer thread after each attempt with (seconds, succeeded)."""

    def due(self, tick: int) -> bool:
        """Whether ``tick`` is an autosave tick not saved yet."""
        return self.every > 0 and tick > 0 and tick % self.every == 0 and tick != self._last_tick

    def assist(self, job: Callable[[], None]) -> Future[None]:
        """Run ``job`` on the writer thread, ahead of the write a capture queues next: a
        capture shares its copy this way (townlet.snapshots.capture). The write of that
        capture fails, counted and logged, if a job of its capture raised."""
        future = self._pool.submit(job)
        self._assists.append(future)
        return future

    def offer(self, tick: int, capture: Capture) -> bool:
        """Call once per tick on the tick thread; saves when due. Returns True if queued.

        ``capture(spare)`` is called only when a save is queued and must return a header
        and arrays nothing else will modify: copies, written into ``spare`` (the arrays of
        the previous autosave, free again) when it is not None, which spares the tick
        thread fresh allocations. It may hand part of its work to :meth:`assist`; the
        write starts after that work.
        """
        if not self.due(tick):
            return False
        self._last_tick = tick
        if self._pending is not None and not self._pending.done():
            with self._lock:
                self.stats.skipped_busy += 1
            log.warning("autosave at tick %d skipped: the previous one is still being written",
                        tick)
            return False
        spare, self._spare = self._spare, None
        header, sections = capture(spare)
        assists, self._assists = self._assists, []
        self._pending = self._pool.submit(self._write, tick, header, sections, assists)
        return True

    def _write(self, tick: int, header: SnapshotHeader, sections: Frame,
               assists: list[Future[None]]) -> None:
        path = self.directory / autosave_name(tick)
        try:
            self._save(path, header, sections, assists)
        finally:
            self._spare = sections  # read on the tick thread only once this job is done

    def _save(self, path: Path, header: SnapshotHeader, sections: Frame,
              assists: list[Future[None]]) -> None:
        t0 = time.perf_counter()
        try:
            for job in assists:  # done: they ran on this thread before this job
                if job.exception() is not None:
                    raise SnapshotError(f"capture incomplete: {job.exception()}")
            write_snapshot(path, msgspec.structs.replace(header, origin="autosave"), sections,
                           overwrite=True)
            removed = prune_autosaves(self.directory, self.keep_last)
        except (SnapshotError, OSError) as exc:
            with self._lock:
                self.stats.failed += 1
                self.stats.last_error = f"{path.name}: {exc}"
            log.error("autosave to %s failed: %s", path, exc)
            self._observed(t0, False)
            return
        with self._lock:
            self.stats.saved += 1
            self.stats.pruned += len(removed)
            self.stats.last_path = str(path)
            self.stats.last_error = None
        self._observed(t0, True)

    def _observed(self, t0: float, ok: bool) -> None:
        if self.observe is not None:
            self.observe(time.perf_counter() - t0, ok)

    def status(self) -> AutosaveStatus:
        """The current state for health reports (safe from any thread)."""
        with self._lock:
            st = msgspec.structs.replace(self.stats)
        busy = self._pending is not None and not self._pending.done()
        return AutosaveStatus(ok=st.last_error is None,
                              state="failing" if st.last_error else "saving" if busy else "idle",
                              every=self.every, saved=st.saved, failed=st.failed,
                              skipped_busy=st.skipped_busy, last_path=st.last_path,
                              last_error=st.last_error)

    def on_close(self, release: Callable[[], None]) -> None:
        """Call ``release`` once when this autosaver closes, after its last write (a
        world forgets the capture it keeps for the next one: ``World.release_capture``);
        registering the same callable again has no effect."""
        if release not in self._closing:
            self._closing.append(release)

    def flush(self) -> None:
        """Wait for the autosave being written, if any."""
        if self._pending is not None:
            self._pending.result()

    def close(self) -> None:
        """Finish the pending autosave, stop the writer thread, and let go of the frame
        kept for the next capture (here and, through :meth:`on_close`, in the world)."""
        self.flush()
        self._pool.shutdown(wait=True)
        self._spare = None
        closing, self._closing = self._closing, []
        for release in closing:
            release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
