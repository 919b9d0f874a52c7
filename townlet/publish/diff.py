"""Column diffs between two frames, vectorised, choosing the smallest exact encoding.

For each column the changed elements are found by comparing raw bits (so NaN
and -0.0 are handled exactly). The change is then encoded as whichever is
smallest: the whole column, indices + values, a bitmap + values, for integer
columns whose elements moved by small amounts (positions, queue lengths, wallets)
indices or a bitmap + the differences in a narrower type, for columns whose
elements mostly moved by the same amount as in the previous message (needs
decaying at each agent's own rate) a Repeat with exact fix-ups, or — for float
columns where most elements moved by the same amount (needs decaying every tick) —
a per-(component, exponent) step table plus exact fix-ups. Every encoding is exact
by construction (integer differences wrap exactly like the decoder's addition).

Elements are compared in C (``core/scan.c``): one pass per column that writes only
the indices of changed elements, and one fused pass over three frames for Repeat
that also counts the changes, so a column that changed almost everywhere in the
predicted way (needs) costs one read of its three versions and no index array.
A Repeat's base is the frame before the previous one, which the caller keeps
(``changes(..., before=)``): nothing is copied to remember it.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from townlet.frames.ring import ffi, lib
from townlet.frames.schema import ColumnSpec, FrameSchema
from townlet.wire.codec import OFFSET_WIDTHS, UINT, exponents, predict
from townlet.wire.messages import Change, Full, Masked, Offset, Repeat, Sparse, Stepped

__all__ = ["Differ", "encode_change", "offset_change", "repeat_change", "step_change"]

_UINT = UINT
_REPEAT_MIN = 64
"""Changed elements a column needs before the differ keeps it for a Repeat next time."""
_SPARSE = 8
"""A column whose change touched at most 1/_SPARSE of its elements keeps their indices:
its next Repeat test looks only there and at what changes next."""
_SAMPLE = 8192
_MAX_STEPS = 64

def _changed(old: np.ndarray, new: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Ascending indices of the elements of flat ``old`` and ``new`` (same dtype and
    size, contiguous) whose bytes differ; written into ``out`` (int64, at least
    ``old.size``) when given, and a view of it returned."""
    out = np.empty(old.size, np.int64) if out is None else out
    k = lib.ts_changed(ffi.from_buffer(old), ffi.from_buffer(new), old.size,
                       old.dtype.itemsize, ffi.from_buffer("int64_t[]", out), old.size)
    return out[:k]


def _repeat_misses(old: np.ndarray, new: np.ndarray, before: np.ndarray,
                   out: np.ndarray) -> tuple[np.ndarray, int]:
    """(indices where ``new`` is not ``old`` moved by its change since ``before``, written
    into ``out``; how many elements of ``new`` differ from ``old``), one pass."""
    changed = ffi.new("uint64_t *")
    k = lib.ts_repeat_misses(ffi.from_buffer(old), ffi.from_buffer(new),
                             ffi.from_buffer(before), old.size, old.dtype.itemsize,
                             ffi.from_buffer("int64_t[]", out), old.size, changed)
    return out[:k], int(changed[0])


def _zero_copy(view: memoryview) -> bytes:
    """``view`` for a message's ``data``: msgspec encodes any buffer without copying it;
    the field is declared ``bytes`` because that is what decoding yields."""
    return cast(bytes, view)


def encode_change(name: str, new: np.ndarray, idx: np.ndarray) -> Full | Sparse | Masked:
    """Smallest plain encoding of elements ``idx`` (ascending) of ``new`` (flat)."""
    n, k, isz = new.size, idx.size, new.dtype.itemsize
    full, sparse, masked = n * isz, k * (4 + isz), (n + 7) // 8 + k * isz
    if full <= sparse and full <= masked:
        return Full(name, _zero_copy(new.data.cast("B")))
    values = new[idx].tobytes()
    if sparse <= masked:
        return Sparse(name, idx.astype("<u4").tobytes(), values)
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return Masked(name, np.packbits(mask, bitorder="little").tobytes(), values)


def offset_change(name: str, old: np.ndarray, new: np.ndarray, idx: np.ndarray) -> Offset | None:
    """Elements ``idx`` of integer column ``new`` as differences from ``old`` in the
    narrowest signed type narrower than the column that holds them all, or None."""
    isz = new.dtype.itemsize
    d = (new[idx] - old[idx]).view(f"<i{isz}")  # wrapped, read as signed
    lo, hi = int(d.min()), int(d.max())
    width = next((w for w, dt in OFFSET_WIDTHS.items() if w < isz
                  and np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max), None)
    if width is None:
        return None
    diff = d.astype(OFFSET_WIDTHS[width]).tobytes()
    n, k = new.size, idx.size
    if k * 4 <= (n + 7) // 8:
        return Offset(name, diff, width, index=idx.astype("<u4").tobytes())
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return Offset(name, diff, width, mask=np.packbits(mask, bitorder="little").tobytes())


def _size(change: Change) -> int:
    if isinstance(change, Offset):
        return len(change.diff) + len(change.index or b"") + len(change.mask or b"")
    if isinstance(change, Full):
        return len(change.data)
    if isinstance(change, Sparse):
        return len(change.index) + len(change.values)
    if isinstance(change, Masked):
        return len(change.mask) + len(change.values)
    if isinstance(change, Repeat):
        return _size(change.fix) if change.fix is not None else 0
    return (len(change.comp) + len(change.exp) + len(change.step)
            + (_size(change.fix) if change.fix is not None else 0))


def step_change(name: str, old: np.ndarray, new: np.ndarray, idx: np.ndarray,
                ncomp: int, scratch: np.ndarray | None = None) -> Stepped | None:
    """Step-table encoding of a float column change, or None if no step is common."""
    isz = new.dtype.itemsize
    sample = idx if idx.size <= _SAMPLE else idx[:: idx.size // _SAMPLE + 1]
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: no common step
        d = new[sample] - old[sample]
    key = (sample % ncomp).astype(np.int64) * 4096 + exponents(old[sample])
    dbits = d.view(_UINT[isz]).astype(np.uint64)
    # Most common step per (component, exponent): sort by key then step bits.
    order = np.lexsort((dbits, key))
    k_s, d_s = key[order], dbits[order]
    brk = np.flatnonzero((k_s[1:] != k_s[:-1]) | (d_s[1:] != d_s[:-1])) + 1
    starts = np.concatenate(([0], brk))
    counts = np.diff(np.concatenate((starts, [k_s.size])))
    keep = counts >= 8
    gk, gd, gc = k_s[starts][keep], d_s[starts][keep], counts[keep]
    if gk.size == 0:
        return None
    # Per key the most frequent step (ties: the smaller step bits, met first), then the
    # _MAX_STEPS keys whose step is most frequent (ties: smaller key first).
    o = np.lexsort((np.arange(gk.size), -gc, gk))
    per_key = o[np.concatenate(([True], gk[o][1:] != gk[o][:-1]))]
    top = per_key[np.argsort(-gc[per_key], kind="stable")[:_MAX_STEPS]]
    comp = (gk[top] // 4096).astype("<u2")
    exp = (gk[top] % 4096).astype("<u2")
    step = gd[top].astype(_UINT[isz]).view(new.dtype)
    wrong = _changed(predict(old, ncomp, comp, exp, step), new, scratch)
    fix = encode_change(name, new, wrong) if wrong.size else None
    return Stepped(name, comp.tobytes(), exp.tobytes(), step.tobytes(), fix)


def _merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The ascending union of two ascending index arrays (a merge of two sorted runs:
    numpy's union1d hashes and sorts, several times slower here)."""
    at = np.concatenate((a, b))
    at.sort(kind="stable")
    keep = np.empty(at.size, bool)
    keep[:1] = True
    np.not_equal(at[1:], at[:-1], out=keep[1:])
    return at[keep]


def _rule_misses(old: np.ndarray, new: np.ndarray, before: np.ndarray,
                 at: np.ndarray) -> np.ndarray:
    """The elements of ``at`` (ascending) where ``new`` is not ``old`` moved by its change
    since ``before``: the Repeat rule tested only where it can fail."""
    u = _UINT[old.dtype.itemsize]
    bits = old.view(u)[at]
    return at[new.view(u)[at] != bits + (bits - before.view(u)[at])]


def repeat_change(name: str, old: np.ndarray, new: np.ndarray, before: np.ndarray) -> Repeat:
    """Flat column ``old`` -> ``new`` as a Repeat of its change since ``before`` (its
    values before the previous message), with the elements that moved otherwise as fix."""
    wrong, _ = _repeat_misses(old, new, before, np.empty(old.size, np.int64))
    return Repeat(name, encode_change(name, new, wrong) if wrong.size else None)


class Differ:
    """Builds keyframe columns and delta changes for one schema.

    It follows the stream it builds: ``changes`` is the delta after the message it
    built last (a keyframe from ``keyframe_columns`` or the previous ``changes``, whose
    new frame is this one's old frame). A column the previous delta changed in at
    least ``_REPEAT_MIN`` elements may be sent as a Repeat of that change when the
    caller passes, as ``before``, the previous delta's old frame, unchanged.
    """

    def __init__(self, schema: FrameSchema) -> None:
        self.schema = schema
        self._cols: tuple[ColumnSpec, ...] = schema.columns
        self._last: object = None
        """The new frame of the last message built (the next delta's base)."""
        self._last_old: object = None
        """The old frame of the last delta built (the next delta's ``before``)."""
        self._repeatable: frozenset[str] = frozenset()
        """Columns the last delta changed enough to try a Repeat of their change."""
        self._moved: dict[str, np.ndarray] = {}
        """Of those, the ones it changed in few elements: which (for a cheap Repeat test)."""
        most = max((int(np.prod(c.shape)) for c in self._cols), default=0)
        self._idx = np.empty(most, np.int64)
        self._miss = np.empty(most, np.int64)

    def _views(self, buf) -> dict[str, np.ndarray]:
        raw = np.frombuffer(buf, dtype=np.uint8)
        return {c.name: raw[c.offset:c.offset + c.nbytes].view(c.dtype) for c in self._cols}

    def keyframe_columns(self, buf) -> list[Full]:
        """Every meta and state column of the frame in ``buf`` as Full (zero-copy views)."""
        self._last, self._last_old, self._repeatable, self._moved = buf, None, frozenset(), {}
        mv = memoryview(buf)
        return [Full(c.name, _zero_copy(mv[c.offset:c.offset + c.nbytes])) for c in self._cols]

    def event_columns(self, buf, n_events: int) -> list[Full]:
        """The event columns (``n_events`` rows) of the frame in ``buf``."""
        mv = memoryview(buf)
        return [Full(e.name, _zero_copy(mv[off:off + nb]))
                for e, off, nb in self.schema.event_layout(n_events)]

    def changes(self, old_buf, new_buf, before=None) -> list[Change]:
        """Changes turning frame ``old_buf`` into ``new_buf`` (meta and state columns);
        ``before``: the old frame of the previous delta, if the caller still holds it."""
        old, new = self._views(old_buf), self._views(new_buf)
        follows = old_buf is self._last and before is not None and before is self._last_old
        repeatable = self._repeatable if follows else frozenset()
        prior = self._views(before) if repeatable else {}
        self._last, self._last_old = new_buf, old_buf
        out: list[Change] = []
        again, moved = set(), {}
        for c in self._cols:
            name = c.name
            change, k, idx = self._change(c, old[name], new[name],
                                          prior.get(name) if name in repeatable else None,
                                          self._moved.get(name))
            if change is None:
                continue
            out.append(change)
            if k >= _REPEAT_MIN and c.dtype.itemsize in _UINT:
                again.add(name)
                if idx is not None and k * _SPARSE <= old[name].size:
                    moved[name] = idx.copy()
        self._repeatable, self._moved = frozenset(again), moved
        return out

    def _change(self, c: ColumnSpec, o: np.ndarray, n: np.ndarray, before: np.ndarray | None,
                moved: np.ndarray | None) -> tuple[Change | None, int, np.ndarray | None]:
        """The smallest exact change of flat column ``c`` (``o`` -> ``n``), how many
        elements changed and which (None: a Repeat was chosen without listing them);
        (None, 0, None) if none did. ``moved``: the elements that changed
        between ``before`` and ``o``, when they were few (None: test every element)."""
        repeat, idx = None, None
        if before is not None:
            if moved is None:  # one fused pass over the three versions
                wrong, k = _repeat_misses(o, n, before, self._miss)
            else:  # only where it moved last time or moves now can the rule fail
                idx = _changed(o, n, self._idx)
                wrong, k = _rule_misses(o, n, before, _merge(idx, moved)), idx.size
            if k == 0:
                return None, 0, None
            repeat = Repeat(c.name, encode_change(c.name, n, wrong) if wrong.size else None)
            if _size(repeat) * 4 < k * c.dtype.itemsize:
                return repeat, k, idx  # the other encodings cannot do much better: spare their cost
        if idx is None:
            idx = _changed(o, n, self._idx)
        if idx.size == 0:
            return None, 0, None
        best = _smallest(c, o, n, idx, self._miss)
        if repeat is not None and _size(repeat) < _size(best):
            best = repeat
        return best, idx.size, idx


def _smallest(c: ColumnSpec, o: np.ndarray, n: np.ndarray, idx: np.ndarray,
              scratch: np.ndarray | None = None) -> Change:
    """The smallest exact plain, Offset or Stepped change of flat column ``c`` (``o`` ->
    ``n``, elements ``idx``); ``scratch`` may hold the indices Stepped gets wrong."""
    best: Change = encode_change(c.name, n, idx)
    if c.dtype.kind in "iu" and c.dtype.itemsize > 1 and not isinstance(best, Full):
        offset = offset_change(c.name, o, n, idx)
        if offset is not None and _size(offset) < _size(best):
            best = offset
    if c.dtype.kind == "f" and c.dtype.itemsize in (4, 8) and idx.size >= 64:
        ncomp = int(np.prod(c.shape[1:])) if len(c.shape) > 1 else 1
        stepped = step_change(c.name, o, n, idx, ncomp, scratch)
        if stepped is not None and _size(stepped) < _size(best):
            best = stepped
    return best
