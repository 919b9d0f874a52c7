"""Frames: the schema (columns, dtypes, layout), the ring writer and the seqlock reader.

The schema is importable without the compiled core (subscribers need only it);
the writer and reader load ``townlet._core`` when first used.
"""

from importlib import import_module

from townlet.frames.schema import (
    EVENT_COLUMNS,
    EVENT_DTYPE,
    META_COLUMNS,
    SCHEMA_VERSION,
    STATE_COLUMNS,
    ColumnDoc,
    ColumnSpec,
    FrameSchema,
    SchemaDoc,
    SchemaError,
    events_table,
    frame_hash,
)

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_DTYPE",
    "META_COLUMNS",
    "SCHEMA_VERSION",
    "STATE_COLUMNS",
    "ColumnDoc",
    "ColumnSpec",
    "Frame",
    "FrameReader",
    "FrameRing",
    "FrameSchema",
    "SchemaDoc",
    "SchemaError",
    "events_table",
    "frame_hash",
]

_LAZY = {"FrameRing": "townlet.frames.writer", "FrameReader": "townlet.frames.reader",
         "Frame": "townlet.frames.reader"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'townlet.frames' has no attribute {name!r}")
