"""Encoding and decoding of wire messages, and applying column changes to arrays.

One ``Codec`` per process (msgspec encoders/decoders are reusable and fast).
Everything decoded from the wire is validated before it touches an array:
lengths, index ranges and bitmap populations; violations raise ``WireError``.
"""

from __future__ import annotations

import msgspec
import numpy as np

from townlet.wire.messages import Change, Full, Masked, Message, Resync, Sparse, Stepped

__all__ = ["Codec", "WireError", "apply_change", "column_from_full", "exponents", "predict"]


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

    Elements without a matching entry keep their exact old bits.
    """
    table = np.zeros(4096 * ncomp, dtype=flat.dtype)
    has = np.zeros(4096 * ncomp, dtype=bool)
    key = exp.astype(np.int64) * ncomp + comp
    table[key] = step
    has[key] = True
    grid = flat.reshape(-1, ncomp)
    at = exponents(grid)
    at *= ncomp
    at += np.arange(ncomp, dtype=np.int32)
    return np.where(np.take(has, at), grid + np.take(table, at), grid).reshape(-1)


def _values(name: str, data: bytes, count: int, dtype: np.dtype) -> np.ndarray:
    if len(data) != count * dtype.itemsize:
        raise WireError(f"column {name!r}: {len(data)} value bytes for {count} elements")
    return np.frombuffer(data, dtype=dtype)


def apply_change(arr: np.ndarray, change: Change) -> None:
    """Apply one column change in place to ``arr`` (a C-contiguous, writable array)."""
    flat = arr.reshape(-1)
    n = flat.size
    if isinstance(change, Full):
        flat[:] = column_from_full(change, arr.dtype, arr.shape).reshape(-1)
    elif isinstance(change, Sparse):
        if len(change.index) % 4:
            raise WireError(f"column {change.c!r}: index length is not a multiple of 4")
        idx = np.frombuffer(change.index, dtype="<u4")
        if idx.size and int(idx.max()) >= n:
            raise WireError(f"column {change.c!r}: index {int(idx.max())} >= {n} elements")
        flat[idx] = _values(change.c, change.values, idx.size, arr.dtype)
    elif isinstance(change, Masked):
        if len(change.mask) != (n + 7) // 8:
            raise WireError(f"column {change.c!r}: mask of {len(change.mask)} bytes for "
                            f"{n} elements")
        sel = np.unpackbits(np.frombuffer(change.mask, np.uint8), count=n,
                            bitorder="little").view(bool)
        flat[sel] = _values(change.c, change.values, int(np.count_nonzero(sel)), arr.dtype)
    elif isinstance(change, Stepped):
        _apply_stepped(arr, flat, change)
    else:  # the decoder only produces the types above
        raise WireError(f"unknown change type {type(change).__name__}")


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
    flat[:] = predict(flat, ncomp, comp, exp, step)
    if change.fix is not None:
        if change.fix.c != change.c or isinstance(change.fix, Stepped):
            raise WireError(f"column {change.c!r}: bad fix-up change")
        apply_change(arr, change.fix)
