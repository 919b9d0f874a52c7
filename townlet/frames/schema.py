"""The frame schema: which columns a frame holds, their dtypes, shapes and byte offsets.

Defined once here and read by the ring writer, the reader, the publisher's diff,
the subscriber and docs/protocol.md. Dtypes and dimensions come from the world's
state table (``townlet.world.state.FIELDS``); this module only chooses which
sections are observable and adds tick metadata. A frame is laid out as

    meta columns | state columns | event columns (variable length, at the end)

each column starting on a 64-byte boundary, event columns on 8-byte boundaries
after the fixed part. The schema travels as a JSON document (``SchemaDoc``)
stored in the ring header and sent in every keyframe; its sha256 is the schema
hash. Only the writer side consults the world's table; readers, the publisher
and subscribers build the schema from its JSON document.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from typing import Annotated, Final

import msgspec
import numpy as np
from msgspec import Meta

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_COUNT_DTYPE",
    "EVENT_COUNT_SECTION",
    "EVENT_DTYPE",
    "META_COLUMNS",
    "SCHEMA_VERSION",
    "STATE_COLUMNS",
    "STATIC_COLUMNS",
    "ColumnDoc",
    "ColumnSpec",
    "FrameSchema",
    "SchemaDoc",
    "SchemaError",
    "events_table",
    "frame_hash",
]

if sys.byteorder != "little":  # the ring copies native bytes and the wire says little-endian
    raise ImportError("townlet frames require a little-endian machine")

SCHEMA_VERSION: Final = "3.0.0"
"""Semantic version of the frame layout and wire format (major = breaking)."""

STATE_COLUMNS: Final[tuple[str, ...]] = (
    "agent_alive", "agent_gen", "agent_x", "agent_y", "agent_needs", "agent_wallet",
    "agent_food", "agent_job", "agent_shift", "agent_goal", "agent_action", "agent_aff",
    "agent_flags",
    "obj_type", "obj_x", "obj_y", "obj_holder", "obj_q_len", "obj_stock", "obj_disabled",
    "district_power", "district_water", "price_now", "stats",
    "pert_kind", "pert_id", "pert_end", "pert_target", "pert_mag",
)
"""World sections copied into every frame, in frame order (names of ``FIELDS``)."""

STATIC_COLUMNS: Final[tuple[str, ...]] = ("agent_job", "obj_type", "obj_x", "obj_y")
"""State columns the world sets when it builds the town and never changes in place (a
snapshot load replaces the arrays): the frame's part of the world's ``TOWN_FIELDS``. The
frame writer copies them into a ring slot only when the slot does not hold them from
that same array yet."""

EVENT_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("code", "evt_code"), ("agent", "evt_agent"), ("other", "evt_other"),
    ("obj", "evt_obj"), ("value", "evt_value"),
)
"""(frame column, world section) of the tick's events; ``evt_len`` gives the count."""

EVENT_COUNT_SECTION: Final = "evt_len"
EVENT_COUNT_DTYPE: Final = np.dtype("<i4")
"""Of the event count section (shape (1,), as the world's ``evt_len``): the frame writer
reads the count in C."""

META_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("tick", "<i8"), ("tick_of_day", "<i4"), ("ticks_per_day", "<i4"),
    ("n_alive", "<i4"), ("n_events", "<i4"), ("config_id", "|S64"),
    ("policy_hash", "|S64"), ("policy_name", "|S64"), ("anneal_ratio", "<f4"),
    ("learned_agents", "<i4"),
)
"""Per-frame metadata columns (each of shape (1,)), written by the frame writer. The
policy columns (added in 2.1.0) say what drove the tick: the learned policy's hash and
name (empty: scripted), the learned share of control and the agents it drove."""

_ALIGN: Final = 64


class SchemaError(ValueError):
    """A schema document, section set or column does not match what the frame needs."""


class ColumnDoc(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """One column as described on the wire: name, numpy dtype string, full shape."""

    name: str
    dtype: str
    shape: list[int]


VocabName = Annotated[str, Meta(max_length=64)]
Vocab = dict[Annotated[str, Meta(max_length=64)],
             Annotated[list[VocabName], Meta(max_length=4096)]]


class SchemaDoc(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The self-describing frame layout (JSON in the ring header, a field of keyframes)."""

    version: str
    columns: list[ColumnDoc]
    """Meta then state columns, in frame order."""
    events: list[ColumnDoc]
    """Event columns; ``shape[0]`` is the per-frame capacity, the count is ``n_events``."""
    vocab: Annotated[Vocab, Meta(max_length=64)] = {}
    """Names of coded values by the column they decode (added in 2.2.0; omitted when
    empty, so a 2.1 document hashes as before): see ``townlet.world.state.frame_vocab``."""


class ColumnSpec(msgspec.Struct, frozen=True):
    """A column with its resolved dtype and byte range inside a frame."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    role: str
    """``meta``, ``agent``, ``object``, ``town`` or ``event``."""

    @property
    def row_nbytes(self) -> int:
        """Bytes of one row (one index along axis 0)."""
        return self.nbytes // self.shape[0] if self.shape[0] else 0


def _role(name: str) -> str:
    if name.startswith("agent_"):
        return "agent"
    if name.startswith("obj_"):
        return "object"
    return "town"


def _round(v: int, a: int) -> int:
    return (v + a - 1) // a * a


def _dtype(text: str, where: str) -> np.dtype:
    try:
        dt = np.dtype(text)
    except TypeError as exc:
        raise SchemaError(f"{where}: bad dtype {text!r}") from exc
    if dt.hasobject or dt.fields is not None or dt.subdtype is not None:
        raise SchemaError(f"{where}: dtype {text!r} must be a plain scalar type")
    if dt.byteorder == ">":
        raise SchemaError(f"{where}: dtype {text!r} must be little-endian")
    return dt


class FrameSchema:
    """Resolved layout of one frame: column specs, offsets, sizes and the schema hash."""

    def __init__(self, doc: SchemaDoc) -> None:
        if doc.version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise SchemaError(f"schema version {doc.version!r} is incompatible with "
                              f"{SCHEMA_VERSION!r} (major version differs)")
        self.doc = doc
        self.doc_bytes = msgspec.json.encode(doc)
        self.hash = hashlib.sha256(self.doc_bytes).digest()
        cols, offset, seen = [], 0, set()
        for c in doc.columns:
            if c.name in seen or not c.name:
                raise SchemaError(f"column {c.name!r}: empty or duplicate name")
            seen.add(c.name)
            dt = _dtype(c.dtype, f"column {c.name!r}")
            if not c.shape or any(d < 0 for d in c.shape):
                raise SchemaError(f"column {c.name!r}: shape {c.shape} must be non-empty, >= 0")
            nbytes = int(np.prod(c.shape)) * dt.itemsize
            offset = _round(offset, _ALIGN)
            role = "meta" if c.name in dict(META_COLUMNS) else _role(c.name)
            cols.append(ColumnSpec(c.name, dt, tuple(c.shape), offset, nbytes, role))
            offset += nbytes
        self.fixed_nbytes = _round(offset, _ALIGN)
        evs = []
        for c in doc.events:
            dt = _dtype(c.dtype, f"event column {c.name!r}")
            if len(c.shape) != 1 or c.shape[0] < 0:
                raise SchemaError(f"event column {c.name!r}: shape must be (capacity,)")
            evs.append(ColumnSpec(c.name, dt, tuple(c.shape), 0, c.shape[0] * dt.itemsize,
                                  "event"))
        caps = {e.shape[0] for e in evs}
        if len(caps) > 1:
            raise SchemaError(f"event columns disagree on capacity: {sorted(caps)}")
        self.columns: tuple[ColumnSpec, ...] = tuple(cols)
        self.events: tuple[ColumnSpec, ...] = tuple(evs)
        self.by_name = {c.name: c for c in cols}
        self.event_capacity = caps.pop() if caps else 0
        self.capacity = self.frame_nbytes(self.event_capacity)
        self.event_record = np.dtype([("tick", "<i8")] + [(e.name, e.dtype) for e in evs])
        """One event as a record of the ring's event log: its tick, then the event columns."""

    @classmethod
    def from_sections(cls, sections: Mapping[str, np.ndarray]) -> FrameSchema:
        """Schema for a world whose state sections are ``sections`` (shapes taken from them)."""
        cols = [ColumnDoc(n, dt, [1]) for n, dt in META_COLUMNS]
        for name in STATE_COLUMNS:
            cols.append(ColumnDoc(name, _checked(sections, name).dtype.str,
                                  list(sections[name].shape)))
        evs = [ColumnDoc(col, _checked(sections, sec).dtype.str, list(sections[sec].shape))
               for col, sec in EVENT_COLUMNS]
        _checked(sections, EVENT_COUNT_SECTION)
        from townlet.world.state import frame_vocab  # writer side only, as in _checked

        return cls(SchemaDoc(SCHEMA_VERSION, cols, evs, frame_vocab()))

    @classmethod
    def from_json(cls, data: bytes) -> FrameSchema:
        """Parse a schema document (ring header or keyframe); raises SchemaError."""
        try:
            doc = msgspec.json.decode(data, type=SchemaDoc)
        except msgspec.ValidationError as exc:
            raise SchemaError(f"bad schema document: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise SchemaError(f"schema document is not JSON: {exc}") from exc
        return cls(doc)

    def event_layout(self, n_events: int) -> list[tuple[ColumnSpec, int, int]]:
        """(column, offset, nbytes) of each event column for a frame with ``n_events``."""
        out, off = [], self.fixed_nbytes
        for e in self.events:
            nb = n_events * e.dtype.itemsize
            out.append((e, off, nb))
            off = _round(off + nb, 8)
        return out

    def frame_nbytes(self, n_events: int) -> int:
        """Total bytes of a frame holding ``n_events`` events."""
        lay = self.event_layout(n_events)
        return lay[-1][1] + lay[-1][2] if lay else self.fixed_nbytes

    def view(self, buf: memoryview | bytes | np.ndarray, n_events: int) -> dict[str, np.ndarray]:
        """Columns (meta, state and events) as numpy views into a frame buffer."""
        raw = np.frombuffer(buf, dtype=np.uint8)
        out = {}
        for c in self.columns:
            out[c.name] = raw[c.offset:c.offset + c.nbytes].view(c.dtype).reshape(c.shape)
        for e, off, nb in self.event_layout(n_events):
            out[e.name] = raw[off:off + nb].view(e.dtype)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrameSchema) and other.hash == self.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return (f"FrameSchema(version={self.doc.version!r}, columns={len(self.columns)}, "
                f"fixed_nbytes={self.fixed_nbytes}, event_capacity={self.event_capacity})")


def _checked(sections: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """The section ``name``, checked against the world's state table."""
    if name not in sections:
        raise SchemaError(f"section {name!r} is missing from the world's sections")
    from townlet.world.state import FIELDS  # writer side only: consumers never import the world

    arr = sections[name]
    want = next((f for f in FIELDS if f.name == name), None)
    if want is not None and arr.dtype != np.dtype(want.dtype):
        raise SchemaError(f"section {name!r}: dtype {arr.dtype} differs from the state "
                          f"table's {want.dtype}")
    return arr


def frame_hash(columns: Mapping[str, np.ndarray], schema: FrameSchema) -> str:
    """sha256 hex over every column of a frame in schema order (events cut to n_events).

    Two frames hash equal exactly when every meta, state and event column is
    bit-identical; the subscriber and the writer use it to prove a rebuild.
    """
    h = hashlib.sha256(schema.hash)
    n_events = int(columns["n_events"][0])
    for c in schema.columns:
        _feed(h, c.name, np.asarray(columns[c.name]), c.dtype, c.shape)
    for e in schema.events:
        _feed(h, e.name, np.asarray(columns[e.name])[:n_events], e.dtype, (n_events,))
    return h.hexdigest()


def _feed(h, name: str, arr: np.ndarray, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    if arr.dtype != dtype or arr.shape != shape:
        raise SchemaError(f"column {name!r}: expected {dtype.str}{shape}, "
                          f"got {arr.dtype.str}{arr.shape}")
    h.update(name.encode())
    h.update(np.ascontiguousarray(arr).tobytes() if not arr.flags.c_contiguous else arr.data)


EVENT_DTYPE = np.dtype([("code", "<i2"), ("tick", "<i4"), ("agent", "<i4"), ("other", "<i4"),
                        ("obj", "<i4"), ("value", "<f4")])
"""The structured event record consumers see (one row per event of the tick)."""


def events_table(columns: Mapping[str, np.ndarray], tick: int) -> np.ndarray:
    """Event columns (each cut to the tick's events) as a read-only EVENT_DTYPE array."""
    n = len(columns[EVENT_COLUMNS[0][0]])
    out = np.empty(n, dtype=EVENT_DTYPE)
    for name, _ in EVENT_COLUMNS:
        out[name] = columns[name]
    out["tick"] = tick
    out.flags.writeable = False
    return out
