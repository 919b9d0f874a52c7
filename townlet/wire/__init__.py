"""Telemetry wire format: tagged msgspec Structs and their codec (see docs/protocol.md)."""

from townlet.wire.codec import Codec, WireError, apply_change, column_from_full
from townlet.wire.messages import (
    SCHEMA_VERSION,
    TOPIC_FRAMES,
    TOPIC_HEALTH,
    Change,
    Delta,
    Full,
    Health,
    Keyframe,
    Masked,
    Message,
    Offset,
    Repeat,
    Resync,
    SkippedEvents,
    Sparse,
    Stepped,
)

__all__ = [
    "SCHEMA_VERSION",
    "TOPIC_FRAMES",
    "TOPIC_HEALTH",
    "Change",
    "Codec",
    "Delta",
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
    "WireError",
    "apply_change",
    "column_from_full",
]
