"""Write a snapshot file atomically.

The file is built under a hidden temporary name in the target directory (locked by this
writer until it is renamed, see :mod:`townlet.snapshots.temps`), sections first,
then the header, then the 64-byte prefix with the magic *last*: a temporary file cut short
by a crash never starts with the magic, so it can never pass for a snapshot. Then fsync,
rename (or hard-link when overwriting is not allowed, which fails atomically if the name
exists) and fsync of the directory, so the new name survives a power loss.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import numpy as np

from townlet.snapshots.errors import SnapshotError
from townlet.snapshots.format import (
    FORMAT_VERSION,
    PREFIX_SIZE,
    SectionEntry,
    SnapshotHeader,
    align,
    check_dtype,
    check_section_name,
    checksum,
    decode_header,
    encode_header,
    header_digest,
    pack_prefix,
)
from townlet.snapshots.temps import create_temp

__all__ = ["fsync_dir", "write_snapshot"]

_PROVISIONAL = "0" * 32


def _flat_bytes(name: str, arr: np.ndarray) -> tuple[np.ndarray, str]:
    """Return a C-contiguous uint8 view of ``arr`` and its dtype string, or raise."""
    if not isinstance(arr, np.ndarray):
        raise SnapshotError(f"section {name!r}: expected a numpy array, got {type(arr).__name__}")
    dtype_str = arr.dtype.str
    try:
        check_dtype(dtype_str)
    except ValueError as exc:
        raise SnapshotError(f"section {name!r}: {exc}") from None
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    return flat, dtype_str


def fsync_dir(directory: Path) -> None:
    """fsync a directory so a rename inside it is durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_snapshot(
    path: Path, meta: SnapshotHeader, sections: Mapping[str, np.ndarray], *, overwrite: bool
) -> SnapshotHeader:
    """Write ``sections`` with header ``meta`` to ``path`` atomically.

    Parameters
    ----------
    path
        Final file name; its directory must exist. The caller confines it (sandbox).
    meta
        Header fields; ``format_version`` and ``sections`` are filled in here.
    sections
        Section name to array; arrays are written as-is (copy live arrays first if another
        thread may change them meanwhile).
    overwrite
        Replace an existing file at ``path``; otherwise an existing file is an error.

    Returns
    -------
    SnapshotHeader
        The header as written, with the section table and checksums.
    """
    path = Path(path)
    flats: list[tuple[str, np.ndarray]] = []
    entries: list[SectionEntry] = []
    seen: set[str] = set()
    for name, arr in sections.items():
        try:
            check_section_name(name)
        except ValueError as exc:
            raise SnapshotError(str(exc)) from None
        if name in seen:
            raise SnapshotError(f"section {name!r} appears twice")
        seen.add(name)
        flat, dtype_str = _flat_bytes(name, arr)
        flats.append((name, flat))
        shape = tuple(int(s) for s in arr.shape)
        entries.append(SectionEntry(name, dtype_str, shape, 0, flat.size, _PROVISIONAL))

    # Lay out with provisional checksums: hex checksums have a fixed length, so the header's
    # size is known before any byte is hashed. Offsets depend on the header's size and are
    # written into it, so iterate until the layout is stable (two rounds in practice).
    draft = msgspec.structs.replace(meta, format_version=FORMAT_VERSION, sections=tuple(entries))
    try:  # constraints (identity formats, ranges) hold on decode only: check what we'd write
        decode_header(encode_header(draft))
    except msgspec.ValidationError as exc:
        raise SnapshotError(f"invalid snapshot header: {exc}") from None
    data_start = align(PREFIX_SIZE + len(encode_header(draft)))
    while True:
        placed, offset = [], data_start
        for entry in entries:
            placed.append(msgspec.structs.replace(entry, offset=offset))
            offset = align(offset + entry.nbytes)
        draft = msgspec.structs.replace(draft, sections=tuple(placed))
        header_len = len(encode_header(draft))
        if align(PREFIX_SIZE + header_len) <= data_start:
            break
        data_start = align(PREFIX_SIZE + header_len)
    file_size = offset

    fd, tmp = create_temp(path)
    lock = os.dup(fd)  # the lock outlives the data fd until the rename is done
    try:
        with open(fd, "wb", closefd=True) as fh, ThreadPoolExecutor(max_workers=1) as pool:
            fh.truncate(file_size)
            digests = [pool.submit(checksum, flat) for _, flat in flats]
            for entry, (_, flat) in zip(placed, flats):
                fh.seek(entry.offset)
                fh.write(flat.data)
            final = msgspec.structs.replace(
                draft,
                sections=tuple(
                    msgspec.structs.replace(e, checksum=d.result()) for e, d in zip(placed, digests)
                ),
            )
            raw = encode_header(final)
            if len(raw) != header_len:  # impossible unless the encoder changes under us
                raise SnapshotError("internal error: header length changed while writing")
            fh.seek(PREFIX_SIZE)
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
            fh.seek(0)
            fh.write(pack_prefix(header_len, file_size, header_digest(raw)))
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise SnapshotError(f"{path}: already exists (choose another name)") from None
            os.unlink(tmp)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(lock)
    return final
