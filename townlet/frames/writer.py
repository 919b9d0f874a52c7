"""Simulation side: ``FrameRing`` writes a frame every ``every`` ticks and rings the doorbell.

``publish`` appends the tick's events to the ring's event log on every tick; on
ticks that are a multiple of ``every`` it also copies the observable sections into
the next ring slot (one memcpy per column; the static columns of ``STATIC_COLUMNS``
only when that slot does not hold them from the same arrays yet, so once per slot for
a whole run) and sends a 16-byte doorbell without blocking; a doorbell that cannot be
sent is dropped and counted (the ring is the truth). Either is one C call
(``tf_tick`` in core/frame.c) from a plan of pointers and sizes set up when arrays are
taken. The event log keeps every event of the last ``event_log`` events, so the
events of ticks without a frame (and of frames a publisher skips) still reach
subscribers. Sections are checked and their buffers taken once per array object: the
world hands out the same read-only mapping of the same arrays every tick, so a tick
costs an identity test and the C call, not per-column Python work. Nothing on this
path waits for a reader.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from operator import is_, itemgetter
from types import MappingProxyType
from typing import Self

import numpy as np

from townlet.config.telemetry import TelemetryConfig
from townlet.frames import shm
from townlet.frames.ring import RingError, RingHandle, check, ffi, lib
from townlet.frames.schema import (
    EVENT_COLUMNS,
    EVENT_COUNT_DTYPE,
    EVENT_COUNT_SECTION,
    STATE_COLUMNS,
    STATIC_COLUMNS,
    FrameSchema,
    SchemaError,
)

__all__ = ["DEFAULT_EVENT_LOG", "DEFAULT_SLOTS", "DOORBELL", "FrameRing", "doorbell_address"]

DOORBELL = struct.Struct("<Qq")
"""Doorbell payload: frame number (u64), tick (i64), little-endian."""

_TELEMETRY = TelemetryConfig()
DEFAULT_SLOTS = _TELEMETRY.ring_slots
DEFAULT_EVENT_LOG = _TELEMETRY.event_log_events
"""Events the ring's event log holds by default (``telemetry.event_log_events``)."""

_CTYPES = {np.dtype("<i8"): "int64_t", np.dtype("<i4"): "int32_t"}
"""C types of the meta columns the writer stores through pointers."""

_WHAT = (lib.TF_EVENTS, lib.TF_EVENTS | lib.TF_FRAME)
"""``tf_tick``'s work on a tick without and with a frame."""

_NEVER = -(2**63)
"""A tick no tick is: ``tf_plan.logged_tick`` before any events were logged."""


def doorbell_address(ring_name: str) -> str:
    """The default doorbell address of a ring: an ipc socket in the temp directory."""
    return f"ipc://{shm.doorbell_path(ring_name)}"


class FrameRing:
    """The simulation's frame writer over a fresh shared-memory ring.

    Parameters
    ----------
    schema
        Frame layout, usually ``FrameSchema.from_sections(world.sections())``.
    config_id
        Stored in every frame's ``config_id`` column (ASCII, at most 64 bytes).
    ticks_per_day
        Used for the ``tick_of_day`` column.
    slots
        Ring slots (>= 2); more slots let slow readers fall further behind
        before they are lapped.
    every
        Write a frame on ticks that are multiples of this (1 = every tick;
        :meth:`for_world` takes ``telemetry.frame_every``); the events of every
        tick go to the event log regardless.
    event_log
        Events the event log holds (raised to two ticks' worth of the schema's
        event capacity if smaller); a publisher more than this many events behind
        loses the oldest and reports exactly how many.
    doorbell
        nng address the publisher listens on: True (default) derives an ``ipc://``
        address from the ring name, a string gives one, None means no doorbell.
    name
        Segment name; a unique one is generated when None.
    """

    def __init__(self, schema: FrameSchema, *, config_id: str, ticks_per_day: int,
                 slots: int = DEFAULT_SLOTS, doorbell: str | bool | None = True,
                 name: str | None = None, event_log: int = DEFAULT_EVENT_LOG,
                 every: int = 1) -> None:
        cid = config_id.encode("ascii")
        if len(cid) > 64:
            raise ValueError(f"config_id must be at most 64 ASCII bytes, got {len(cid)}")
        if ticks_per_day < 1:
            raise ValueError(f"ticks_per_day must be >= 1, got {ticks_per_day}")
        if not 2 <= slots <= lib.TR_MAX_SLOTS:
            raise ValueError(f"slots must be in [2, {lib.TR_MAX_SLOTS}], got {slots}")
        if event_log < 1:
            raise ValueError(f"event_log must be >= 1, got {event_log}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.schema = schema
        self.every = every
        self.ticks_per_day = ticks_per_day
        self.doorbells_dropped = 0
        self.last_frame = 0
        self.last_frame_tick: int | None = None
        """Tick of the newest frame written (None before the first)."""
        self._prepare(cid)  # validates the schema before anything is created
        self.removed_stale = shm.cleanup_stale()
        self.name = name or shm.new_ring_name()
        self.doorbell: str | None = (doorbell_address(self.name) if doorbell is True
                                     else doorbell or None)
        self._bell = None
        pid = os.getpid()
        self.event_log = max(event_log, 2 * schema.event_capacity)
        shm.check_space(slots * schema.capacity + self.event_log * schema.event_record.itemsize
                        + len(schema.doc_bytes))
        self._ring: RingHandle | None = RingHandle.create(self.name, schema.doc_bytes, slots, schema.capacity, pid,
                                       shm.process_starttime(pid) or 0,
                                       schema.event_record.itemsize, self.event_log)
        self._rp = self._ring.ptr
        """The raw ring handle for the per-tick calls (None once closed)."""
        shm.unlink_on_exit(self.name)
        self._slot_statics = ffi.new("int64_t[]", [-1] * slots)
        """Per slot, the generation of static arrays it holds (-1: none yet)."""
        self._plan.slot_statics = self._slot_statics
        if self.doorbell is not None:
            import pynng  # only the writer with a doorbell needs nng

            self._try_again = pynng.TryAgain
            try:
                self._bell = pynng.Push0(send_buffer_size=64)
                self._bell.dial(self.doorbell, block=False)
            except pynng.NNGException:
                self.close()
                raise

    @classmethod
    def from_sections(cls, sections: Mapping[str, np.ndarray], **kwargs) -> FrameRing:
        """A ring whose schema is derived from a world's ``sections()``."""
        return cls(FrameSchema.from_sections(sections), **kwargs)

    @classmethod
    def for_world(cls, world, cfg, **kwargs) -> FrameRing:
        """A ring for ``world`` (a townlet World) run with config ``cfg`` (TownletConfig)."""
        kwargs.setdefault("slots", cfg.telemetry.ring_slots)
        kwargs.setdefault("event_log", cfg.telemetry.event_log_events)
        kwargs.setdefault("every", cfg.telemetry.frame_every)
        return cls.from_sections(world.sections(), config_id=world.config_id,
                                 ticks_per_day=cfg.world.ticks_per_day, **kwargs)

    def _prepare(self, config_id: bytes) -> None:
        s = self.schema
        meta_end = max(c.offset + c.nbytes for c in s.columns if c.role == "meta")
        self._meta_buf = np.zeros(meta_end, dtype=np.uint8)
        views = {}
        for c in s.columns:
            if c.role == "meta":
                views[c.name] = self._meta_buf[c.offset:c.offset + c.nbytes].view(c.dtype)
        views["config_id"][0] = config_id
        views["ticks_per_day"][0] = self.ticks_per_day
        self._meta = views
        self._keep_meta = ffi.from_buffer(self._meta_buf)
        self._state = [(c.name, c.offset, c.nbytes, c.dtype, c.shape)
                       for c in s.columns if c.role != "meta"]
        self._static = [i for i, (name, *_) in enumerate(self._state, start=1)
                        if name in STATIC_COLUMNS]
        self._events = [(sec, e) for (_, sec), e in zip(EVENT_COLUMNS, s.events, strict=True)]
        base = 1 + len(self._state)
        """Parts before it are the frame's fixed part (meta, state), the event columns after."""
        self._ptrs = ffi.new("const void *[]", base)
        self._offs = ffi.new("uint64_t[]", base)
        self._sizes = ffi.new("uint64_t[]", base)
        self._ptrs[0], self._offs[0], self._sizes[0] = self._keep_meta, 0, meta_end
        for i, (_, off, nb, _, _) in enumerate(self._state, start=1):
            self._offs[i], self._sizes[i] = off, nb
        # an event record (schema.event_record) is the tick, then one value per event column
        self._tick = ffi.new("int64_t[1]")
        """The tick, the first field of every event record (stride 0: shared)."""
        self._fields = ffi.new("const void *[]", [self._tick] + [ffi.NULL] * len(self._events))
        self._widths = ffi.new("uint32_t[]", [8] + [e.dtype.itemsize for _, e in self._events])
        self._strides = ffi.new("uint64_t[]", [0] + [e.dtype.itemsize for _, e in self._events])
        self._cols = ffi.new("const void *[]", len(self._events))
        """The event columns a frame copies: the fields after the tick, or (``flush``)
        copies of the events as logged."""
        self._count = base + len(self._events)
        """The part of the event count (``evt_len``), after the event columns."""
        self._alive = 1 + [c[0] for c in self._state].index("agent_alive")
        """The part of ``agent_alive`` (its flags are counted for ``n_alive``)."""
        self._plan = p = ffi.new("tf_plan *")
        p.fixed_nbytes, p.n_parts, p.ptrs, p.offsets, p.sizes = (s.fixed_nbytes, base,
                                                                 self._ptrs, self._offs,
                                                                 self._sizes)
        p.event_capacity, p.n_fields, p.fields = s.event_capacity, len(self._widths), self._fields
        p.widths, p.strides, p.tick = self._widths, self._strides, self._tick
        p.n_cols, p.cols, p.col_widths = len(self._events), self._cols, self._widths + 1
        p.meta_tick, p.meta_tick_of_day, p.meta_n_alive, p.meta_n_events = (
            ffi.cast(f"{_CTYPES[views[name].dtype]} *", self._keep_meta + s.by_name[name].offset)
            for name in ("tick", "tick_of_day", "n_alive", "n_events"))
        p.ticks_per_day, p.n_agents = self.ticks_per_day, s.by_name["agent_alive"].shape[0]
        self._static_parts = ffi.new("uint32_t[]", self._static)
        self._static_sizes = ffi.new("uint64_t[]", [self._state[i - 1][2] for i in self._static])
        p.n_static, p.static_parts, p.static_sizes = (len(self._static), self._static_parts,
                                                      self._static_sizes)
        p.event_row = sum(e.dtype.itemsize for _, e in self._events)
        p.logged_tick = _NEVER
        """The C side of a tick (``tf_tick`` in core/frame.c): every pointer and size, set
        as sections are taken, so a tick is one call."""
        self._src: list[np.ndarray | None] = [None] * (self._count + 1)
        """The array each part was last taken from (checked, its buffer in ``_bufs``)."""
        self._bufs: list[object] = [None] * (self._count + 1)
        count = (self._count, EVENT_COUNT_SECTION, EVENT_COUNT_DTYPE, (1,))
        self._event_parts = [(j, sec, spec.dtype, spec.shape)
                             for j, (sec, spec) in enumerate(self._events, start=base)] + [count]
        self._frame_parts = [(i, name, dt, shape) for i, (name, _, _, dt, shape)
                             in enumerate(self._state, start=1)] + self._event_parts
        self._get_frame = itemgetter(*(name for _, name, _, _ in self._frame_parts))
        self._get_events = itemgetter(*(sec for _, sec, _, _ in self._event_parts))
        self._seen_frame: tuple | None = None
        self._seen_events: tuple | None = None
        """The sections last found all taken already (identity): a tick whose sections
        are the same arrays skips the per-part checks."""
        self._trusted: list[Mapping[str, np.ndarray] | None] = [None, None]
        """By ``frame`` (False, True): the read-only mapping last taken whole, if any."""
        if set(STATE_COLUMNS) - {c[0] for c in self._state}:
            raise SchemaError("schema lacks state columns this writer must fill")

    def set_policy(self, policy_hash: str | None, policy_name: str | None,
                   anneal_ratio: float, learned_agents: int) -> None:
        """What drives the town, written into every following frame until changed
        (None: the scripted policy). Hash and name are ASCII, at most 64 bytes."""
        m = self._meta
        m["policy_hash"][0] = _ascii("policy_hash", policy_hash or "")
        m["policy_name"][0] = _ascii("policy_name", policy_name or "")
        m["anneal_ratio"][0] = anneal_ratio
        m["learned_agents"][0] = learned_agents

    def _take(self, i: int, name: str, sections: Mapping[str, np.ndarray], dt: np.dtype,
              shape: tuple[int, ...]) -> None:
        """Section ``name`` as part ``i``: checked and its buffer taken once per array (an
        event column's buffer is also its field of the event records)."""
        a = sections[name] if name in sections else _missing(name)
        if a is not self._src[i]:
            if a.dtype != dt or a.shape != shape or not a.flags.c_contiguous:
                _mismatch(name, a, dt, shape)
            self._bufs[i] = buf = ffi.from_buffer(a)
            self._src[i] = a
            k = i - self._event_parts[0][0]
            if i == self._count:
                self._plan.n_events = ffi.cast("const int32_t *", buf)
            elif k >= 0:
                self._fields[1 + k] = self._cols[k] = buf
            else:
                self._ptrs[i] = buf
                if i == self._alive:
                    self._plan.alive = ffi.cast("const uint8_t *", buf)
                if i in self._static:
                    self._plan.statics += 1  # no slot holds these arrays yet

    def publish(self, tick: int, sections: Mapping[str, np.ndarray]) -> int:
        """Log the events of ``tick``; on a frame tick (a multiple of ``every``) also write
        its frame from the world's ``sections`` and ring the doorbell.

        Returns the frame number, 0 when this tick has no frame. Raises SchemaError
        (naming the section) if a section is missing or its dtype/shape differs from
        the schema; never blocks.
        """
        if self._rp is None:
            raise RingError(f"ring {self.name} is closed", lib.TR_EINVAL)
        frame = not tick % self.every
        if sections is not self._trusted[frame]:
            self._take_all(frame, sections)  # every check before anything is written
        rc = lib.tf_tick(self._rp, self._plan, tick, _WHAT[frame])
        return rc and self._done(rc, tick)

    def flush(self, tick: int, sections: Mapping[str, np.ndarray]) -> int:
        """Write the frame of ``tick`` unless it was written already (its events were
        logged by :meth:`publish`): the last state of a run reaches subscribers even
        when its tick is not a frame tick. Returns the frame number (0: nothing new)."""
        if self._rp is None or self.last_frame_tick == tick:
            return 0
        self._take_all(True, sections)
        n = self._plan.logged_n if self._plan.logged_tick == tick else 0
        # the tick's events as logged (an intervention since may have reused the buffers)
        records = np.zeros(n, self.schema.event_record)
        if n:
            first = ffi.new("uint64_t *")
            head = lib.tr_events_head(self._rp)
            check(lib.tr_events_read(self._rp, head - n, n, ffi.from_buffer(records),
                                     first), f"read back the events of tick {tick}")
        for k, ((j, _, _, _), (_, spec)) in enumerate(zip(self._event_parts[:-1], self._events,
                                                          strict=True)):
            col = np.ascontiguousarray(records[spec.name])
            self._bufs[j], self._src[j] = ffi.from_buffer(col), None  # kept until re-taken
            self._cols[k] = self._bufs[j]
        self._seen_frame = self._seen_events = None  # the event parts now point at copies
        self._trusted = [None, None]
        return self._done(lib.tf_tick(self._rp, self._plan, tick, lib.TF_FRAME), tick)

    def _take_all(self, frame: bool, sections: Mapping[str, np.ndarray]) -> None:
        """Take the event sections and count (``frame``: and every state section) of
        ``sections``; when they are exactly the arrays last taken, one C-level lookup and
        identity test instead of a check per part. A read-only mapping
        (``MappingProxyType``, as ``World.sections()``) whose arrays were all taken is
        trusted to hold them while it is the one passed: nobody can rebind its names."""
        try:
            got = (self._get_frame if frame else self._get_events)(sections)
        except KeyError:
            got = None
        seen = self._seen_frame if frame else self._seen_events
        if got is None or seen is None or not all(map(is_, got, seen)):
            for i, name, dt, shape in (self._frame_parts if frame else self._event_parts):
                self._take(i, name, sections, dt, shape)
            got = (self._get_frame if frame else self._get_events)(sections)
        if frame:
            self._seen_frame = got
        else:
            self._seen_events = got
        self._trusted[frame] = sections if type(sections) is MappingProxyType else None

    def _failed(self, rc: int, tick: int) -> None:
        """Raise for ``tf_tick``'s error ``rc``: an event count out of range names its section."""
        count = self._src[self._count]
        n = 0 if count is None else int(count[0])
        if not 0 <= n <= self.schema.event_capacity:
            raise SchemaError(f"section {EVENT_COUNT_SECTION!r}: {n} events outside "
                              f"[0, {self.schema.event_capacity}]")
        check(rc, f"log the events or publish the frame of tick {tick}")

    def _done(self, frame: int, tick: int) -> int:
        """After ``tf_tick`` wrote ``frame`` of ``tick`` (or failed: raise): note it and ring
        the doorbell."""
        if frame < 0:
            self._failed(frame, tick)
        self.last_frame = frame
        self.last_frame_tick = tick
        if self._bell is not None:
            try:
                self._bell.send(DOORBELL.pack(frame, tick), block=False)
            except self._try_again:
                self.doorbells_dropped += 1
        return frame

    @property
    def frames_published(self) -> int:
        """Frames written so far (frame numbers count them)."""
        return self.last_frame

    @property
    def bytes_written(self) -> int:
        """Bytes copied into ring slots so far (static columns count once per slot)."""
        return int(self._plan.bytes_written)

    def close(self, unlink: bool = True) -> None:
        """Mark the ring closed for readers, unmap it and (by default) unlink it."""
        if self._ring is None:
            return
        lib.tr_mark_closed(self._ring.ptr)
        if self._bell is not None:
            try:  # a last doorbell so the publisher notices the close promptly
                self._bell.send(DOORBELL.pack(self.last_frame, -1), block=False)
            except self._try_again:
                self.doorbells_dropped += 1
            self._bell.close()
            self._bell = None
        self._ring.close()
        self._ring = self._rp = None
        if unlink:
            lib.tr_unlink(self.name.encode())
            shm.forget_unlink(self.name)
            if self.doorbell == doorbell_address(self.name):
                # The ring's own doorbell file: a publisher that was killed rather than
                # stopped never removed it, and the ring it served is gone now.
                shm.doorbell_path(self.name).unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _missing(name: str):
    raise SchemaError(f"section {name!r} is missing from the sections passed to publish()")


def _mismatch(name: str, a: np.ndarray, dt: np.dtype, shape: tuple[int, ...]):
    raise SchemaError(f"section {name!r}: expected contiguous {dt.str}{shape}, got "
                      f"{a.dtype.str}{a.shape}{'' if a.flags.c_contiguous else ' (strided)'}")


def _ascii(name: str, text: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) > 64:
        raise ValueError(f"{name} must be at most 64 ASCII bytes, got {len(raw)}")
    return raw
