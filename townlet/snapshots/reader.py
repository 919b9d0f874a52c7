"""Open a snapshot file: check it completely, then hand out read-only zero-copy views.

Nothing is returned until every check has passed (magic, versions, header digest, section
table sanity, bounds, zero padding, every section's checksum), so a caller can never act on part of a bad
file. Arrays are views on one read-only memory map of the file: loading costs a hash pass
over the bytes and no copy.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

import msgspec
import numpy as np

from townlet.security.sandbox import NotRegularFile, open_regular
from townlet.snapshots.errors import SnapshotError, SnapshotFormatError, SnapshotVersionError
from townlet.snapshots.format import (
    FORMAT_VERSION,
    MAGIC,
    MAX_HEADER_BYTES,
    PREFIX_SIZE,
    SnapshotHeader,
    align,
    check_dtype,
    check_section_name,
    checksum,
    decode_header,
    header_digest,
    unpack_prefix,
)

__all__ = ["Snapshot", "open_snapshot", "read_header"]


class Snapshot:
    """A verified snapshot: its header and a read-only array per section.

    The arrays are views on a private read-only map of the file; they stay valid after the
    file is renamed or deleted, for as long as they are referenced.
    """

    __slots__ = ("header", "path", "sections")

    def __init__(self, path: Path, header: SnapshotHeader, sections: Mapping[str, np.ndarray]):
        self.path = path
        self.header = header
        self.sections = MappingProxyType(dict(sections))

    def __repr__(self) -> str:
        h = self.header
        return (
            f"Snapshot({str(self.path)!r}, schema={h.schema_version}, tick={h.tick}, "
            f"sections={len(h.sections)})"
        )


def _fail(path: Path, part: str, reason: str) -> SnapshotFormatError:
    return SnapshotFormatError(str(path), part, reason)


def _read_exact(fh: BinaryIO, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = fh.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _header(fh: BinaryIO, path: Path, size: int) -> tuple[SnapshotHeader, int]:
    """Check prefix, header digest and section table; return the header and the offset
    of its end."""
    raw = _read_exact(fh, PREFIX_SIZE)
    if raw[: len(MAGIC)] != MAGIC[: len(raw)] or len(raw) == 0:
        raise _fail(path, "prefix", f"not a Townlet snapshot (wrong magic {raw[:8]!r})")
    if len(raw) < PREFIX_SIZE:
        raise _fail(path, "prefix", f"truncated: file has {size} bytes, the prefix alone needs 64")
    prefix = unpack_prefix(raw)
    if prefix.format_version > FORMAT_VERSION:
        raise SnapshotVersionError(
            f"{path}: format version {prefix.format_version} is newer than this build "
            f"supports ({FORMAT_VERSION}); upgrade townlet to read it"
        )
    if prefix.format_version < 1:
        raise _fail(path, "prefix", f"invalid format version {prefix.format_version}")
    if any(prefix.reserved):
        raise _fail(path, "prefix", "reserved bytes are not zero")
    if prefix.header_len > MAX_HEADER_BYTES:
        raise _fail(path, "prefix", f"header length {prefix.header_len} exceeds {MAX_HEADER_BYTES}")
    body = _read_exact(fh, prefix.header_len)
    if len(body) < prefix.header_len:
        raise _fail(
            path, "header",
            f"truncated: file has {size} bytes, header ends at {PREFIX_SIZE + prefix.header_len}",
        )
    if header_digest(body) != prefix.header_digest:
        raise _fail(path, "header", "checksum mismatch (the file is corrupt or was modified)")
    try:
        header = decode_header(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _fail(path, "header", f"invalid: {exc}") from None
    if header.format_version != prefix.format_version:
        raise _fail(path, "header", "format version disagrees with the prefix")
    _check_table(header, path, size, align(PREFIX_SIZE + prefix.header_len))
    if size != prefix.file_size:
        raise _fail(
            path, "prefix",
            f"file has {size} bytes but {prefix.file_size} were written (truncated or appended)",
        )
    return header, PREFIX_SIZE + prefix.header_len


def _check_padding(whole: np.ndarray, header: SnapshotHeader, header_end: int,
                   path: Path) -> None:
    """Every byte outside the prefix, the header and the sections must be zero, so a
    flipped bit in the padding is reported too (checksums cover only the sections)."""
    start, after = header_end, "the header"
    for e in (*header.sections, None):
        end = whole.size if e is None else e.offset
        if whole[start:end].any():
            raise _fail(path, f"padding after {after}",
                        "non-zero bytes (the file is corrupt or was modified)")
        if e is not None:
            start, after = e.offset + e.nbytes, f"section {e.name!r}"


def _check_table(header: SnapshotHeader, path: Path, size: int, data_start: int) -> None:
    """Every section: valid name and dtype, consistent length, aligned, in order, in bounds."""
    seen: set[str] = set()
    cursor = data_start
    for e in header.sections:
        part = f"section {e.name!r}"
        try:
            check_section_name(e.name)
            itemsize = check_dtype(e.dtype).itemsize
        except ValueError as exc:
            raise _fail(path, part, str(exc)) from None
        if e.name in seen:
            raise _fail(path, part, "appears twice in the section table")
        seen.add(e.name)
        if any(d < 0 for d in e.shape):
            raise _fail(path, part, f"negative dimension in shape {e.shape}")
        if int(np.prod(e.shape, dtype=np.int64)) * itemsize != e.nbytes:
            raise _fail(path, part, f"length {e.nbytes} does not match shape {e.shape} x {e.dtype}")
        if e.offset % 64 or e.offset < cursor:
            raise _fail(path, part, f"bad offset {e.offset} (unaligned or overlapping)")
        if e.offset + e.nbytes > size:
            raise _fail(
                path, part,
                f"truncated: ends at byte {e.offset + e.nbytes} but the file has {size} bytes",
            )
        if len(e.checksum) != 32:
            raise _fail(path, part, "malformed checksum")
        cursor = e.offset + e.nbytes


def _open(path: Path) -> BinaryIO:
    """Open for reading without following a final symlink (one swapped in after the
    sandbox resolved the path) and refuse anything but a regular file, without blocking
    on a FIFO (:func:`~townlet.security.sandbox.open_regular`)."""
    try:
        fd = open_regular(path)
    except NotRegularFile:
        raise SnapshotError(f"{path}: not a regular file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SnapshotError(f"{path}: is a symbolic link; not following it") from None
        if exc.errno == errno.ENOENT:
            raise SnapshotError(f"{path}: no such snapshot") from None
        raise
    return os.fdopen(fd, "rb")


def read_header(path: str | os.PathLike[str]) -> SnapshotHeader:
    """Read and check a snapshot's header and section table, without hashing the sections.

    Cheap (reads only the first bytes); used by ``inspect`` and ``list``.
    """
    path = Path(path)
    with _open(path) as fh:
        return _header(fh, path, os.fstat(fh.fileno()).st_size)[0]


def open_snapshot(path: str | os.PathLike[str], *, verify: bool = True) -> Snapshot:
    """Open, check and map a snapshot.

    Parameters
    ----------
    path
        The snapshot file (already confined by the caller).
    verify
        Hash every section and compare with the table (default). Only ``False`` for
        trusted, just-written files in benchmarks: tampering goes unnoticed without it.

    Raises
    ------
    SnapshotFormatError
        Wrong magic, truncation, corrupt header, bad table, checksum mismatch; names the part.
    SnapshotVersionError
        Format version newer than this build.
    """
    path = Path(path)
    with _open(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        header, header_end = _header(fh, path, size)
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    whole = np.frombuffer(mm, dtype=np.uint8)
    _check_padding(whole, header, header_end, path)
    raw = [whole[e.offset : e.offset + e.nbytes] for e in header.sections]
    if verify and raw:
        workers = max(1, min(len(raw), os.cpu_count() or 1, 4))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            digests = list(pool.map(checksum, raw))
        for e, d in zip(header.sections, digests):
            if d != e.checksum:
                raise _fail(path, f"section {e.name!r}",
                            "checksum mismatch (the file is corrupt or was modified)")
    views = {
        e.name: b.view(np.dtype(e.dtype)).reshape(e.shape) for e, b in zip(header.sections, raw)
    }
    return Snapshot(path, header, views)
