"""Telemetry wire messages: the one definition shared by publisher, client and docs.

Every message is a msgpack map with a ``kind`` tag. Column data travels as raw
little-endian bytes (``bin``), never as per-element objects. docs/protocol.md
describes each field; tests check that the two agree.

Schema evolution follows msgspec's rules: new fields are added at the end with
defaults; a breaking change bumps the major ``SCHEMA_VERSION``.
"""

from __future__ import annotations

from typing import Final

import msgspec

from townlet.frames.schema import SCHEMA_VERSION, SchemaDoc

__all__ = [
    "SCHEMA_VERSION",
    "TOPIC_FRAMES",
    "TOPIC_HEALTH",
    "Change",
    "Delta",
    "End",
    "Full",
    "Health",
    "Keyframe",
    "Masked",
    "Message",
    "Offset",
    "Repeat",
    "Resync",
    "SkippedEvents",
    "Sparse",
    "Stepped",
]

TOPIC_FRAMES: Final = b"f"
"""First frame of keyframe and delta messages (subscribe to it for state)."""
TOPIC_HEALTH: Final = b"h"
"""First frame of health messages."""


class _Wire(msgspec.Struct, frozen=True, forbid_unknown_fields=False, tag_field="kind"):
    """Base: tagged by ``kind``; unknown fields are ignored (forward compatible)."""


class Full(_Wire, frozen=True, tag="full"):
    """A whole column: ``data`` holds every element, C order."""

    c: str
    data: bytes


class Sparse(_Wire, frozen=True, tag="sparse"):
    """Changed elements by index: ``index`` is <u4 flat element indices, ascending."""

    c: str
    index: bytes
    values: bytes
    """New values of those elements, in index order."""


class Masked(_Wire, frozen=True, tag="mask"):
    """Changed elements by bitmap: bit i (LSB-first, byte i // 8) set => element i changed."""

    c: str
    mask: bytes
    values: bytes
    """New values of the set bits' elements, in ascending element order."""


class Stepped(_Wire, frozen=True, tag="step"):
    """Float column whose elements mostly moved by a fixed step per (component, exponent).

    Element i (flat) has component ``i % ncomp`` (``ncomp`` = product of the
    column's trailing dimensions) and exponent = biased IEEE exponent of its old
    value. For every entry j, elements with component ``comp[j]`` and exponent
    ``exp[j]`` become ``old + step[j]`` (one IEEE addition in the column's dtype,
    round to nearest even); all other elements stay. Then ``fix`` overrides.
    """

    c: str
    comp: bytes
    """<u2 component per entry."""
    exp: bytes
    """<u2 biased exponent per entry."""
    step: bytes
    """Step per entry, in the column's dtype."""
    fix: Full | Sparse | Masked | None = None
    """Exact values for elements the step rule gets wrong (same column name)."""


class Offset(_Wire, frozen=True, tag="offset"):
    """Integer column whose changed elements moved by small amounts: the differences
    ``new - old`` in a narrower signed type instead of the new values.

    The changed elements are given like Sparse (``index``) or like Masked (``mask``),
    exactly one of the two. ``diff`` holds one signed little-endian integer of ``width``
    bytes (1, 2 or 4, less than the column's item size) per changed element, in
    ascending element order; element i becomes ``old + diff`` computed modulo
    2^(8 x item size) of the column (two's complement wrap-around).
    """

    c: str
    diff: bytes
    width: int
    """Bytes per difference: 1, 2 or 4."""
    index: bytes | None = None
    """<u4 flat indices of the changed elements, ascending (or None: see ``mask``)."""
    mask: bytes | None = None
    """Bitmap of the changed elements as in Masked (or None: see ``index``)."""


class Repeat(_Wire, frozen=True, tag="repeat"):
    """Column whose elements mostly moved by the same amount as in the previous frame
    message (needs decaying at each agent's own rate): every element moves again by its
    difference in that message, computed on the raw bits.

    With ``u`` the element's bits read as an unsigned little-endian integer of the
    column's item size, ``prev`` its bits before the previous frame message was applied
    and ``cur`` its bits now: it becomes ``cur + (cur - prev)`` modulo 2^(8 x item size).
    An element of a column the previous frame message did not change (or when that
    message was a keyframe) keeps its value. Then ``fix`` overrides.
    """

    c: str
    fix: Full | Sparse | Masked | None = None
    """Exact values for elements the repeat rule gets wrong (same column name)."""


Change = Full | Sparse | Masked | Stepped | Offset | Repeat


class SkippedEvents(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """Events of a tick whose frame the publisher skipped (it ships only the newest)."""

    tick: int
    events: list[Full]


class _Frame(_Wire, frozen=True):
    v: str
    """Schema version (semver) of the columns."""
    stream: str
    """Random id of this publisher run; a new value means a new sequence."""
    seq: int
    """Sequence number of frame-topic messages in this stream, from 1, no gaps."""
    tick: int
    head_tick: int
    """Newest tick in the ring when this message was sent (lag = head_tick - tick)."""
    sent_ns: int
    """Publisher wall clock (ns since the epoch) at send."""
    schema_hash: str
    """sha256 hex of the schema document."""


class Keyframe(_Frame, frozen=True, tag="key"):
    """Every meta and state column of one frame, plus its events."""

    schema: SchemaDoc
    columns: list[Full]
    events: list[Full]
    """The event columns of this tick (``n_events`` rows each)."""
    skipped: list[SkippedEvents] = []
    events_lost: int = 0
    """Events of skipped ticks that could no longer be read (overwritten in the ring's
    event log before the publisher got to them); 0 while the publisher keeps up."""


class Delta(_Frame, frozen=True, tag="delta"):
    """Changes from the previous frame message (seq - 1, tick ``base_tick``)."""

    base_tick: int
    changes: list[Change]
    """Changed meta and state columns; unlisted columns are unchanged."""
    events: list[Full]
    """The event columns of this tick (always sent, ``n_events`` rows)."""
    skipped: list[SkippedEvents] = []
    events_lost: int = 0


class Health(_Wire, frozen=True, tag="health"):
    """Publisher status, sent every ``health_interval`` seconds on topic ``h``."""

    v: str
    stream: str
    seq: int
    """Sequence number of health messages in this stream."""
    sent_ns: int
    head_tick: int
    last_tick: int
    """Tick of the newest frame shipped."""
    writer_alive: bool
    frames_read: int
    keyframes_sent: int
    deltas_sent: int
    bytes_sent: int
    dropped_reported: int
    """Messages subscribers reported missing (HWM drops and other gaps)."""
    torn_reads: int
    subscribers: int
    handshake_failures: int
    last_seq: int = 0
    """``seq`` of the newest frame message sent; a subscriber whose own ``seq`` is lower
    lost the tail of the stream (messages on one socket arrive in order)."""
    health_seconds: float = 0.0
    """Interval of health messages; a subscriber hearing nothing for a few intervals
    knows the publisher is gone (0 = not announced)."""
    restarts: int = 0
    """Times the simulation restarted its publisher before this one (it died)."""


class End(_Wire, frozen=True, tag="end"):
    """The last message of a stream (topic ``f``): the publisher stopped cleanly."""

    v: str
    stream: str
    sent_ns: int
    last_seq: int
    """``seq`` of the last frame message of the stream (a lower own ``seq``: tail lost)."""
    last_tick: int
    """Tick of the last frame shipped (-1 if none)."""
    reason: str
    """``writer_done`` (the simulation closed its ring or exited) or ``signal`` (stopped)."""


class Resync(_Wire, frozen=True, tag="resync"):
    """Subscriber -> publisher (upstream on the same socket): I lost messages, send a keyframe."""

    stream: str
    last_seq: int
    """Last frame-topic sequence number the subscriber applied (0 if none)."""
    missed: int
    """Messages the subscriber knows it missed (sequence gap)."""
    want_keyframe: bool = True
    """False when the gap ended at a keyframe: only report the drops."""


Message = Keyframe | Delta | Health | End
