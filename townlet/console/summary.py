"""The town's per-tick summary, shared by the simulation with its console front process.

The simulation writes it at the start of every loop iteration (also while paused) into a
small file-backed memory map in the owner-only run directory; the front process reads it
to answer ``status`` and ``health`` without asking the simulation, so those cost the tick
nothing. A sequence counter makes each read consistent (a seqlock: odd while a write is in
progress; a reader retries when it changed under it). A writer descheduled in the middle
of a write (a loaded machine) or killed there leaves the counter odd for longer than a
reader spins; the reader then answers with the last consistent copy it read, whose ``at``
says how old it is, rather than with nothing (``health`` would lose every service).

Layout: a fixed header (``_HEAD``) with the fields that change every tick, then the
msgpack of the slow fields (:class:`Slow`: capacity, config id, the services' states),
rewritten only when asked (after console commands ran, and a few times per second).
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["SUMMARY_BYTES", "Slow", "SummaryReader", "SummaryWriter", "TownSummary"]

SUMMARY_BYTES = 65_536
"""Size of the summary file (header + slow fields)."""
_HEAD = struct.Struct("<QqqBdddI")  # seq, tick, population, paused, tps target, rate, at, len
_SEQ = struct.Struct("<Q")
_BLOB = 64  # offset of the slow fields
_TRIES = 100_000


class Slow(msgspec.Struct, frozen=True):
    """Fields that change rarely (a snapshot load, a service state)."""

    capacity: int = 0
    config_id: str = ""
    services: dict[str, dict[str, Any]] = {}
    """Each service's status as a map with at least ``ok`` and ``state``."""


class TownSummary(msgspec.Struct, frozen=True):
    """One consistent reading of the summary."""

    tick: int
    population: int
    paused: bool
    target_tps: float
    ticks_per_s: float
    at: float
    """``time.monotonic()`` (system-wide) when the simulation last wrote it."""
    slow: Slow


class SummaryWriter:
    """The simulation's side: creates the file (mode 0600) and writes it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, SUMMARY_BYTES)
            self._mm = mmap.mmap(fd, SUMMARY_BYTES)
        finally:
            os.close(fd)
        self._seq = 0
        self._blob_len = 0
        self._encoder = msgspec.msgpack.Encoder()

    def write(self, tick: int, population: int, paused: bool, target_tps: float,
              ticks_per_s: float, slow: Slow | None = None) -> None:
        """Publish this iteration's facts (and new slow fields when given)."""
        mm = self._mm
        self._seq += 1
        _SEQ.pack_into(mm, 0, self._seq)  # odd: a write is in progress
        if slow is not None:
            blob = self._encoder.encode(slow)
            if len(blob) > SUMMARY_BYTES - _BLOB:  # services' states are small; keep the rest
                blob = self._encoder.encode(msgspec.structs.replace(slow, services={}))
            mm[_BLOB:_BLOB + len(blob)] = blob
            self._blob_len = len(blob)
        self._seq += 1
        _HEAD.pack_into(mm, 0, self._seq - 1, tick, population, paused, target_tps,
                        ticks_per_s, time.monotonic(), self._blob_len)
        _SEQ.pack_into(mm, 0, self._seq)

    def close(self) -> None:
        self._mm.close()


class SummaryReader:
    """The front process's side: maps the file read-only and reads consistent copies."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            self._mm = mmap.mmap(fd, SUMMARY_BYTES, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self._decoder = msgspec.msgpack.Decoder(Slow)
        self._slow: tuple[bytes, Slow] = (b"", Slow())
        self._last: TownSummary | None = None

    def read(self) -> TownSummary | None:
        """The latest summary; the last one read while the writer stays in the middle of a
        write; None before the simulation wrote one."""
        mm = self._mm
        for _ in range(_TRIES):
            seq, tick, pop, paused, tps, rate, at, n = _HEAD.unpack_from(mm, 0)
            if seq % 2:
                continue  # the writer is mid-update (a few microseconds unless descheduled)
            blob = bytes(mm[_BLOB:_BLOB + n])
            if _SEQ.unpack_from(mm, 0)[0] == seq:
                break
        else:  # the writer was descheduled or killed mid-update
            return self._last
        if seq == 0:
            return None
        if blob != self._slow[0]:
            self._slow = (blob, self._decoder.decode(blob))
        self._last = TownSummary(tick=tick, population=pop, paused=bool(paused),
                                 target_tps=tps, ticks_per_s=rate, at=at, slow=self._slow[1])
        return self._last

    def close(self) -> None:
        self._mm.close()
