"""Reader side: attach read-only, copy frames out, verify them with the seqlock.

A copy whose slot changed during the copy (torn) or that was already
overwritten (lapped) is never returned: ``read_latest`` retries with the newest
frame, ``read`` of a given frame raises. ``read_events`` copies records out of
the ring's event log the same way and says exactly how many were overwritten. ``Frame`` objects hold an immutable
copy; their arrays are read-only and cannot be made writeable.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Self

import numpy as np

from townlet.frames import shm
from townlet.frames.ring import LappedRead, RingError, RingHandle, TornRead, check, ffi, lib
from townlet.frames.schema import FrameSchema, events_table, frame_hash

__all__ = ["Frame", "FrameReader"]

class Frame:
    """One tick's frame: read-only columns over a private, immutable copy."""

    __slots__ = ("_buf", "columns", "nbytes", "number", "schema", "tick")

    def __init__(self, schema: FrameSchema, number: int, tick: int, buf: bytearray,
                 nbytes: int) -> None:
        view = memoryview(buf)[:nbytes].toreadonly()
        self._buf = buf
        self.schema = schema
        self.number = number
        self.tick = tick
        self.nbytes = nbytes
        n_events = int(np.frombuffer(view, dtype="<i4", count=1,
                                     offset=schema.by_name["n_events"].offset)[0])
        self.columns: Mapping[str, np.ndarray] = MappingProxyType(schema.view(view, n_events))

    @property
    def n_events(self) -> int:
        return int(self.columns["n_events"][0])

    @property
    def config_id(self) -> str:
        return bytes(self.columns["config_id"][0]).rstrip(b"\0").decode("ascii")

    @property
    def policy_hash(self) -> str:
        """Hash of the learned policy that drove this tick ("" = scripted)."""
        return bytes(self.columns["policy_hash"][0]).rstrip(b"\0").decode("ascii")

    @property
    def policy_name(self) -> str:
        """Name of the learned policy that drove this tick ("" = scripted)."""
        return bytes(self.columns["policy_name"][0]).rstrip(b"\0").decode("ascii")

    @property
    def events(self) -> np.ndarray:
        """The tick's events as a structured array (code, tick, agent, other, obj, value)."""
        return events_table(self.columns, self.tick)

    def hash(self) -> str:
        """``frame_hash`` of this frame."""
        return frame_hash(self.columns, self.schema)

    def __repr__(self) -> str:
        return f"Frame(number={self.number}, tick={self.tick}, nbytes={self.nbytes})"


class FrameReader:
    """Read-only attachment to a ring; the schema is read from its header.

    ``expect`` (optional) must match the ring's schema, else SchemaMismatch.
    """

    def __init__(self, name: str, expect: FrameSchema | None = None) -> None:
        self._ring = RingHandle.attach(name, expect.hash if expect is not None else None)
        self.name = name
        self.schema = FrameSchema.from_json(self._ring.schema_doc())
        self.n_slots = lib.tr_n_slots(self._ring.ptr)
        self.writer_pid = lib.tr_writer_pid(self._ring.ptr)
        self._writer_start = lib.tr_writer_starttime(self._ring.ptr)
        self.torn_reads = 0
        self.lapped_reads = 0
        self.events_capacity = lib.tr_events_capacity(self._ring.ptr)
        if self.events_capacity and (lib.tr_events_record_size(self._ring.ptr)
                                     != self.schema.event_record.itemsize):
            raise RingError(f"ring {name}: event records do not match the schema",
                            lib.TR_EMAGIC)
        self._tick = ffi.new("int64_t *")
        self._nbytes = ffi.new("uint64_t *")
        self._ev_end = ffi.new("uint64_t *")
        self._first_valid = ffi.new("uint64_t *")

    def latest(self) -> int:
        """Number of the newest complete frame (0 if none yet)."""
        return lib.tr_latest(self._ring.ptr)

    @property
    def closed(self) -> bool:
        """True once the writer marked the ring closed."""
        return bool(lib.tr_closed(self._ring.ptr))

    def writer_alive(self) -> bool:
        """True while the writing process still runs."""
        return shm.writer_alive(self.writer_pid, self._writer_start)

    def read_into(self, frame: int, dst: bytearray | np.ndarray, offset: int = 0,
                  length: int | None = None) -> tuple[int, int]:
        """Copy frame ``frame`` (from ``offset``) into ``dst``; return (tick, frame nbytes).

        Raises LappedRead / TornRead / NotPublished; the copy is then invalid.
        """
        cap = dst.nbytes if isinstance(dst, np.ndarray) else len(dst)
        n = cap if length is None else length
        if not 0 <= n <= cap:
            raise ValueError(f"length {n} outside the destination buffer of {cap} bytes")
        try:
            check(lib.tr_read(self._ring.ptr, frame, offset, n, ffi.from_buffer(dst),
                              self._tick, self._nbytes, self._ev_end), f"read frame {frame}")
        except TornRead:
            self.torn_reads += 1
            raise
        except LappedRead:
            self.lapped_reads += 1
            raise
        return self._tick[0], self._nbytes[0]

    @property
    def last_events_end(self) -> int:
        """Event-log head recorded with the frame last read by ``read_into``: the events
        of every tick up to that frame's are the log's records before it."""
        return self._ev_end[0]

    def events_head(self) -> int:
        """Events appended to the ring's event log so far."""
        return lib.tr_events_head(self._ring.ptr)

    def read_events(self, start: int, stop: int) -> tuple[np.ndarray, int]:
        """Event records ``[start, stop)`` of the log: (the intact ones, in order, as a
        ``schema.event_record`` array; how many before them were overwritten and lost).

        Raises NotPublished if ``stop`` is beyond the log's head.
        """
        if not 0 <= start <= stop:
            raise ValueError(f"bad event range [{start}, {stop})")
        lo = max(start, self.events_head() - self.events_capacity)  # older ones are gone
        lo = min(lo, stop)
        out = np.empty(stop - lo, self.schema.event_record)
        check(lib.tr_events_read(self._ring.ptr, lo, stop - lo, ffi.from_buffer(out),
                                 self._first_valid), f"read events [{start}, {stop})")
        lost = self._first_valid[0] - start
        return out[self._first_valid[0] - lo:], lost

    def read(self, frame: int) -> Frame:
        """Frame number ``frame`` as an immutable Frame (LappedRead/TornRead if gone)."""
        buf = bytearray(self.schema.capacity)
        tick, nbytes = self.read_into(frame, buf)
        return Frame(self.schema, frame, tick, buf, nbytes)

    def read_latest(self, attempts: int = 64) -> Frame | None:
        """The newest frame, retrying on torn or lapped copies; None if none published.

        Raises RingError if no consistent copy was obtained in ``attempts`` tries
        (a writer lapping the reader continuously).
        """
        buf = bytearray(self.schema.capacity)
        for _ in range(attempts):
            frame = self.latest()
            if frame == 0:
                return None
            try:
                tick, nbytes = self.read_into(frame, buf)
            except (TornRead, LappedRead):
                continue
            return Frame(self.schema, frame, tick, buf, nbytes)
        raise RingError(f"no consistent frame from {self.name} in {attempts} attempts",
                        lib.TR_TORN)

    def close(self) -> None:
        """Unmap the ring (the writer owns and unlinks it)."""
        self._ring.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
