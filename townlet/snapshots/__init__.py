"""Snapshots: save, load, inspect and migrate complete world state, resumable exactly.

A snapshot is one file: a 64-byte prefix, a checksummed msgspec JSON header (versions,
config, tick, seed, policy identity, section table) and the raw state arrays, each 64-byte
aligned with its own XXH3-128 checksum. See ``docs/snapshots.md`` and
:mod:`townlet.snapshots.format`.
"""

from townlet.snapshots.errors import (
    ConfigMismatchError,
    SnapshotError,
    SnapshotFormatError,
    SnapshotStateError,
    SnapshotVersionError,
)
from townlet.snapshots.format import PolicyIdentity, SectionEntry, SnapshotHeader
from townlet.snapshots.reader import Snapshot, open_snapshot, read_header
from townlet.snapshots.writer import write_snapshot

__all__ = [
    "ConfigMismatchError",
    "PolicyIdentity",
    "SectionEntry",
    "Snapshot",
    "SnapshotError",
    "SnapshotFormatError",
    "SnapshotHeader",
    "SnapshotStateError",
    "SnapshotVersionError",
    "open_snapshot",
    "read_header",
    "write_snapshot",
]


def __dir__() -> list[str]:
    return sorted(__all__)
