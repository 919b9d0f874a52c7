"""Encoding and decoding of wire messages, and applying column changes to arrays.

One ``Codec`` per process (msgspec encoders/decoders are reusable and fast).
Everything decoded from the wire is validated before it touches an array:
schema sizes and dtypes (``check_schema``, before anything is allocated), lengths,
index ranges and bitmap populations; violations raise ``WireError``.
"""

from __future__ import annotations

import math
import re
from typing import Final

import msgspec
import numpy as np

from townlet.frames.schema import EVENT_COLUMNS, EVENT_DTYPE, META_COLUMNS, SchemaDoc
from townlet.wire.messages import (
    Change,
    Full,
    Masked,
    Message,
    Offset,
    Repeat,
    Resync,
    Sparse,
    Stepped,
)

__all__ = ["FRAME_DTYPES", "OFFSET_WIDTHS", "UINT", "Codec", "WireError", "apply_change",
           "check_schema", "column_from_full", "exponents", "predict"]

FRAME_DTYPES: Final = frozenset({"|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f4",
                                 "<f8"})
"""Column dtypes of docs/protocol.md §2.1 (plus ASCII text ``|S1`` .. ``|S4096``)."""
_TEXT = re.compile(r"\|S[1-9][0-9]{0,3}")
_DENSE_STEP_TABLE = 1 << 16
UINT: Final[dict[int, type[np.unsignedinteger]]] = {1: np.uint8, 2: np.uint16, 4: np.uint32,
                                                    8: np.uint64}
"""Unsigned integer type of each element size: how the Repeat rule reads raw bits."""
_FEW_STEPS = 8


class WireError(ValueError):
    """A message could not be decoded or does not fit the schema it claims."""


class Codec:
    """msgpack encoder and typed decoders for telemetry messages."""

    def __init__(self) -> None:
        self._enc = msgspec.msgpack.Encoder()
        self._dec = msgspec.msgpack.Decoder(Message)
        self._dec_resync = msgspec.msgpack.Decoder(Resync)

    def encode(self, msg: Message | Resync) -> bytes:
        return self._enc.encode(msg)

    def decode(self, data: bytes | memoryview) -> Message:
        """Decode a keyframe, delta or health message; WireError on anything else."""
        try:
            return self._dec.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise WireError(f"undecodable telemetry message: {exc}") from exc

    def decode_resync(self, data: bytes | memoryview) -> Resync:
        """Decode an upstream resync request; WireError on anything else."""
        try:
            return self._dec_resync.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise WireError(f"undecodable resync request: {exc}") from exc


def check_schema(doc: SchemaDoc, max_bytes: int) -> None:
    """Refuse a schema document a consumer cannot safely allocate or read.

    Every column must have a documented dtype and a non-empty shape of sizes >= 0; the
    meta and event columns the protocol promises must be there with their dtypes; and
    all columns together (events at capacity), counted with exact integers, must fit
    in ``max_bytes`` (a keyframe carries them all in one message of at most that size).
    """
    total = 0
    for c in (*doc.columns, *doc.events):
        if c.dtype not in FRAME_DTYPES and not _TEXT.fullmatch(c.dtype):
            raise WireError(f"column {c.name!r}: dtype {c.dtype!r} is not a frame dtype")
        if not c.shape or min(c.shape) < 0:
            raise WireError(f"column {c.name!r}: shape {c.shape} must be non-empty, >= 0")
        total += math.prod(c.shape) * np.dtype(c.dtype).itemsize
        if total > max_bytes:
            raise WireError(f"schema declares more than {max_bytes} bytes of columns "
                            f"(at column {c.name!r})")
    have = {c.name: (c.dtype, c.shape) for c in doc.columns}
    for name, dtype in META_COLUMNS:
        if have.get(name) != (dtype, [1]):
            raise WireError(f"meta column {name!r} must be {dtype}[1]")
    events = {c.name: c.dtype for c in doc.events}
    for name, _ in EVENT_COLUMNS:
        if events.get(name) != EVENT_DTYPE[name].str:
            raise WireError(f"event column {name!r} must be {EVENT_DTYPE[name].str}")


def column_from_full(full: Full, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A (read-only) array over the bytes of a Full column, checked against dtype/shape."""
    n = int(np.prod(shape))
    if len(full.data) != n * dtype.itemsize:
        raise WireError(f"column {full.c!r}: {len(full.data)} bytes, expected "
                        f"{n * dtype.itemsize} for {dtype.str}{shape}")
    return np.frombuffer(full.data, dtype=dtype).reshape(shape)


def exponents(flat: np.ndarray) -> np.ndarray:
    """Biased IEEE exponent of each element of a float32/float64 array (as int32)."""
    if flat.dtype.itemsize == 4:
        return ((flat.view("<u4") >> 23) & 0xFF).astype(np.int32)
    return ((flat.view("<u8") >> 52) & 0x7FF).astype(np.int32)


def predict(flat: np.ndarray, ncomp: int, comp: np.ndarray, exp: np.ndarray,
            step: np.ndarray) -> np.ndarray:
    """Step rule of ``Stepped``: old + step[j] where (component, old exponent) matches entry j.

    Elements without a matching entry keep their exact old bits; of entries with the
    same (component, exponent) the last one applies. A few entries (the publisher sends
    one or two per component) are applied one by one to their component; more are looked
    up in a dense (exponent, component) table when that is small, else by binary search,
    so memory never exceeds a small multiple of the column.
    """
    if flat.size == 0:
        return flat.copy()
    grid = flat.reshape(-1, ncomp)
    if comp.size <= _FEW_STEPS:
        out = grid.copy()
        at = exponents(grid)
        for c, e, s in zip(comp.tolist(), exp.tolist(), step, strict=True):
            np.add(grid[:, c], s, out=out[:, c], where=at[:, c] == e)
        return out.reshape(-1)
    key = exp.astype(np.int64) * ncomp + comp
    dense = 4096 * ncomp <= max(flat.size, _DENSE_STEP_TABLE)
    at = exponents(grid) if dense else exponents(grid).astype(np.int64)  # int32 is faster
    at *= ncomp
    at += np.arange(ncomp, dtype=at.dtype)
    if dense:
        table = np.zeros(4096 * ncomp, dtype=flat.dtype)
        has = np.zeros(4096 * ncomp, dtype=bool)
        table[key] = step
        has[key] = True
        return np.where(np.take(has, at), grid + np.take(table, at), grid).reshape(-1)
    order = np.argsort(key, kind="stable")  # equal keys keep their order: the last wins
    keys, steps = key[order], step[order]
    pos = np.searchsorted(keys, at, side="right") - 1
    hit = (pos >= 0) & (keys[np.maximum(pos, 0)] == at) if keys.size else np.zeros(at.shape, bool)
    return np.where(hit, grid + (steps[np.maximum(pos, 0)] if keys.size else 0),
                    grid).reshape(-1)


def _values(name: str, data: bytes, count: int, dtype: np.dtype) -> np.ndarray:
    if len(data) != count * dtype.itemsize:
        raise WireError(f"column {name!r}: {len(data)} value bytes for {count} elements")
    return np.frombuffer(data, dtype=dtype)


def apply_change(arr: np.ndarray, change: Change, before: np.ndarray | None = None) -> None:
    """Apply one column change in place to ``arr`` (a C-contiguous, writable array).

    ``before`` is the column as it was before the previous frame message, if that
    message changed it (the Repeat rule moves each element by its difference since).
    """
    flat = arr.reshape(-1)
    n = flat.size
    if isinstance(change, Full):
        flat[:] = column_from_full(change, arr.dtype, arr.shape).reshape(-1)
    elif isinstance(change, Sparse):
        idx = _index(change.c, change.index, n)
        flat[idx] = _values(change.c, change.values, idx.size, arr.dtype)
    elif isinstance(change, Masked):
        sel = _mask(change.c, change.mask, n)
        flat[sel] = _values(change.c, change.values, int(np.count_nonzero(sel)), arr.dtype)
    elif isinstance(change, Stepped):
        _apply_stepped(arr, flat, change)
    elif isinstance(change, Offset):
        _apply_offset(arr, flat, change)
    elif isinstance(change, Repeat):
        _apply_repeat(arr, flat, change, before)
    else:  # the decoder only produces the types above
        raise WireError(f"unknown change type {type(change).__name__}")


def _index(name: str, data: bytes, n: int) -> np.ndarray:
    if len(data) % 4:
        raise WireError(f"column {name!r}: index length is not a multiple of 4")
    idx = np.frombuffer(data, dtype="<u4")
    if idx.size and int(idx.max()) >= n:
        raise WireError(f"column {name!r}: index {int(idx.max())} >= {n} elements")
    return idx


def _mask(name: str, data: bytes, n: int) -> np.ndarray:
    if len(data) != (n + 7) // 8:
        raise WireError(f"column {name!r}: mask of {len(data)} bytes for {n} elements")
    return np.unpackbits(np.frombuffer(data, np.uint8), count=n, bitorder="little").view(bool)


OFFSET_WIDTHS: Final[dict[int, np.dtype]] = {1: np.dtype("|i1"), 2: np.dtype("<i2"),
                                             4: np.dtype("<i4")}
"""Difference types of ``Offset`` by width in bytes."""


def _apply_offset(arr: np.ndarray, flat: np.ndarray, change: Offset) -> None:
    if arr.dtype.kind not in "iu":
        raise WireError(f"column {change.c!r}: offset encoding needs an integer column")
    dt = OFFSET_WIDTHS.get(change.width)
    if dt is None or change.width >= arr.dtype.itemsize:
        raise WireError(f"column {change.c!r}: offset width {change.width} is not 1, 2 or 4 "
                        f"bytes narrower than {arr.dtype.str}")
    if (change.index is None) == (change.mask is None):
        raise WireError(f"column {change.c!r}: offset needs exactly one of index and mask")
    where = (_index(change.c, change.index, flat.size) if change.index is not None
             else _mask(change.c, change.mask or b"", flat.size))
    count = where.size if change.index is not None else int(np.count_nonzero(where))
    diff = _values(change.c, change.diff, count, dt)
    flat[where] = flat[where] + diff.astype(arr.dtype)  # wraps modulo 2^(8 x item size)


def _apply_stepped(arr: np.ndarray, flat: np.ndarray, change: Stepped) -> None:
    if arr.dtype.kind != "f" or arr.dtype.itemsize not in (4, 8):
        raise WireError(f"column {change.c!r}: step encoding needs float32/float64")
    comp = np.frombuffer(change.comp, dtype="<u2") if len(change.comp) % 2 == 0 else None
    exp = np.frombuffer(change.exp, dtype="<u2") if len(change.exp) % 2 == 0 else None
    if comp is None or exp is None or comp.size != exp.size:
        raise WireError(f"column {change.c!r}: step tables have inconsistent lengths")
    step = _values(change.c, change.step, comp.size, arr.dtype)
    ncomp = int(np.prod(arr.shape[1:])) if arr.ndim > 1 else 1
    if comp.size and int(comp.max()) >= ncomp:
        raise WireError(f"column {change.c!r}: component {int(comp.max())} >= {ncomp}")
    if exp.size and int(exp.max()) >= 4096:
        raise WireError(f"column {change.c!r}: exponent {int(exp.max())} out of range")
    _check_fix(change.c, change.fix)
    flat[:] = predict(flat, ncomp, comp, exp, step)
    if change.fix is not None:
        apply_change(arr, change.fix)


def _apply_repeat(arr: np.ndarray, flat: np.ndarray, change: Repeat,
                  before: np.ndarray | None) -> None:
    u = UINT.get(arr.dtype.itemsize)
    if u is None:
        raise WireError(f"column {change.c!r}: repeat needs 1-, 2-, 4- or 8-byte elements")
    _check_fix(change.c, change.fix)
    if before is not None:
        bits = flat.view(u)
        bits += bits - before.reshape(-1).view(u)  # unsigned: wraps modulo 2^(8 x size)
    if change.fix is not None:
        apply_change(arr, change.fix)


def _check_fix(name: str, fix: Change | None) -> None:
    """A fix-up is a plain change (Full, Sparse or Masked) of the same column."""
    if fix is not None and (fix.c != name or not isinstance(fix, (Full, Sparse, Masked))):
        raise WireError(f"column {name!r}: bad fix-up change")
