"""Ways to damage a snapshot file on disk, shared by the snapshot and console tests."""

from __future__ import annotations

from pathlib import Path

from townlet.snapshots import read_header

__all__ = ["tamper", "truncate"]


def _entry(path: Path, section: str):
    return next(e for e in read_header(path).sections if e.name == section)


def tamper(path: Path, section: str) -> None:
    """Flip one bit in the middle of ``section`` (its checksum no longer matches)."""
    entry = _entry(path, section)
    raw = bytearray(path.read_bytes())
    raw[entry.offset + entry.nbytes // 2] ^= 0x40
    path.write_bytes(bytes(raw))


def truncate(path: Path, section: str) -> None:
    """Cut the file one byte into ``section``."""
    entry = _entry(path, section)
    with open(path, "r+b") as fh:
        fh.truncate(entry.offset + 1)
