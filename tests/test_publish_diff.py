"""Delta encodings: every encoding rebuilds the new column bit for bit; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from telemetry_helpers import no_shm_leak  # noqa: F401 - autouse fixture
from telemetry_writer import make_state, step

from townlet.frames import SCHEMA_VERSION, FrameSchema
from townlet.publish.diff import Differ, encode_change, offset_change, repeat_change, step_change
from townlet.wire import (
    Codec,
    Full,
    Masked,
    Offset,
    Repeat,
    Sparse,
    Stepped,
    WireError,
    apply_change,
)

DTYPES = ["<i1", "<u1", "<i2", "<i4", "<u4", "<i8", "<f4", "<f8"]


def _bits(a: np.ndarray) -> bytes:
    return a.tobytes()


@st.composite
def column_pair(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(st.sampled_from([(1,), (7,), (64,), (33, 4), (200,)]))
    old = draw(hnp.arrays(dtype, shape, elements=hnp.from_dtype(dtype, allow_nan=True)
                          if dtype.kind == "f" else None))
    mask = draw(hnp.arrays(bool, shape))
    fresh = draw(hnp.arrays(dtype, shape))
    new = np.where(mask, fresh, old).astype(dtype)
    return old, new


def _changed(old, new):
    u = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[old.dtype.itemsize]
    return np.flatnonzero(old.reshape(-1).view(u) != new.reshape(-1).view(u))


@settings(max_examples=150, deadline=None)
@given(column_pair())
def test_plain_encodings_roundtrip_exactly(pair):
    old, new = pair
    idx = _changed(old, new)
    change = encode_change("c", new.reshape(-1), idx)
    got = old.copy()
    apply_change(got, Codec().decode(Codec().encode(_carrier(change))).changes[0])
    assert _bits(got) == _bits(new)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["<f4", "<f8"]), st.integers(1, 5), st.integers(80, 400),
       st.floats(1e-5, 0.01), st.floats(0, 0.5))
def test_step_encoding_is_exact(dtype, ncomp, rows, rate, noise):
    rng = np.random.default_rng(rows * ncomp)
    old = rng.random((rows, ncomp)).astype(dtype)
    old[rng.random(old.shape) < 0.05] = 0  # clamped values stay put
    new = np.maximum(old - np.asarray(rate, dtype), 0).astype(dtype)
    odd = rng.random(old.shape) < noise
    new[odd] = rng.random(int(odd.sum())).astype(dtype)
    idx = _changed(old, new)
    change = step_change("c", old.reshape(-1), new.reshape(-1), idx, ncomp)
    if change is None:
        return
    got = old.copy()
    apply_change(got, change)
    assert _bits(got) == _bits(new)


def test_step_encoding_shrinks_decaying_needs():
    rng = np.random.default_rng(0)
    old = rng.random((10_000, 4), dtype=np.float32)
    new = np.maximum(old - np.array([1e-3, 5e-4, 5e-4, 4e-4], np.float32), 0)
    idx = _changed(old, new)
    stepped = step_change("agent_needs", old.reshape(-1), new.reshape(-1), idx, 4)
    plain = encode_change("agent_needs", new.reshape(-1), idx)
    assert isinstance(plain, Full) and isinstance(stepped, Stepped)
    assert len(stepped.comp) + len(stepped.step) + len(stepped.exp) < len(plain.data) / 20


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["<i2", "<u2", "<i4", "<u4", "<i8", "<u8"]), st.integers(1, 300),
       st.integers(0, 40), st.floats(0.0, 1.0), st.integers(0, 2**31))
def test_offset_encoding_is_exact_and_wraps(dtype, n, span, rate, seed):
    """Small (and wrapping) integer steps: old + diff rebuilds the column bit for bit."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    old = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    old[: n // 4] = info.max  # steps past the top wrap around
    moved = rng.random(n) < rate
    step = rng.integers(-span, span + 1, n).astype(dtype)  # two's complement
    new = np.where(moved, old + step, old).astype(dtype)
    idx = _changed(old, new)
    if idx.size == 0:
        return
    change = offset_change("c", old, new, idx)
    if span <= 127:
        assert change is not None and change.width == 1
    if change is None:
        return
    got = old.copy()
    apply_change(got, Codec().decode(Codec().encode(_carrier(change))).changes[0])
    assert _bits(got) == _bits(new)


def test_small_integer_steps_ship_as_narrow_offsets():
    """Positions moving by one tile and wallets by a few units: the delta carries 1- and
    4-byte differences instead of 2- and 8-byte values (issue 12: cheaper deltas)."""
    state = make_state(4000, seed=5)
    schema = FrameSchema.from_sections(state)
    rng = np.random.default_rng(2)
    bufs = []
    for tick in range(2):
        step(state, rng, tick, 0.3)
        buf = bytearray(schema.capacity)
        views = schema.view(buf, 0)
        for c in schema.columns:
            if c.role != "meta":
                views[c.name][...] = state[c.name]
        bufs.append(buf)
    changes = {c.c: c for c in Differ(schema).changes(bufs[0], bufs[1])}
    for name, width in (("agent_x", 1), ("agent_wallet", 4)):
        ch = changes[name]
        assert isinstance(ch, Offset) and ch.width == width, name
        plain = encode_change(name, schema.view(bufs[1], 0)[name].reshape(-1),
                              _changed(schema.view(bufs[0], 0)[name], schema.view(bufs[1], 0)[name]))
        assert len(ch.diff) + len(ch.mask or ch.index or b"") < len(plain.values)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(DTYPES), st.integers(1, 300), st.floats(0.0, 1.0), st.integers(0, 2**31))
def test_repeat_encoding_is_exact_and_wraps(dtype, n, noise, seed):
    """Each element moving again by its own last difference (on raw bits, wrapping):
    cur + (cur - prev) with the odd ones out as fix rebuilds the column bit for bit."""
    rng = np.random.default_rng(seed)
    u = np.dtype(f"<u{np.dtype(dtype).itemsize}")
    prev = rng.integers(0, np.iinfo(u).max, n, dtype=u, endpoint=True)
    rate = rng.integers(0, 40, n).astype(u) * (rng.random(n) < 0.8) - u.type(20)
    cur = prev + rate
    new = cur + rate
    odd = rng.random(n) < noise
    new[odd] = rng.integers(0, np.iinfo(u).max, int(odd.sum()), dtype=u, endpoint=True)
    prev, cur, new = (a.view(dtype) for a in (prev, cur, new))
    change = repeat_change("c", cur, new, prev)
    got = cur.copy()
    apply_change(got, Codec().decode(Codec().encode(_carrier(change))).changes[0], prev)
    assert _bits(got) == _bits(new)


def _frames(schema, states):
    bufs = []
    for tick, st_ in enumerate(states):
        buf = bytearray(schema.capacity)
        views = schema.view(buf, 0)
        for c in schema.columns:
            if c.role != "meta":
                views[c.name][...] = st_[c.name]
        views["tick"][0] = tick
        bufs.append(buf)
    return bufs


def test_needs_decaying_at_each_agents_rate_ship_as_small_repeats():
    """Issue 12 (cheaper deltas where a column changes by small steps): needs decaying at
    each agent's own rate (no common step) become a Repeat of the previous delta's change
    with a small fix, a fraction of the step encoding's size, and rebuild exactly; the
    differ never repeats against a base it did not build last (or after a keyframe)."""
    rng = np.random.default_rng(7)
    state = make_state(4000, seed=7)
    schema = FrameSchema.from_sections(state)
    rates = (rng.random((4000, 4)) * 1e-3 + 1e-4).astype(np.float32)
    states = []
    for _ in range(4):
        state = {k: v.copy() for k, v in state.items()}
        np.maximum(state["agent_needs"] - rates, np.float32(0), out=state["agent_needs"])
        states.append(state)
    bufs = _frames(schema, states)
    differ, codec = Differ(schema), Codec()
    differ.keyframe_columns(bufs[0])
    # the caller keeps the previous delta's old frame (``before``): Repeat's base
    deltas = [differ.changes(bufs[i], bufs[i + 1], bufs[i - 1] if i else None)
              for i in range(3)]
    first, later = ({c.c: c for c in d}["agent_needs"] for d in (deltas[0], deltas[2]))
    assert not isinstance(first, Repeat) and isinstance(later, Repeat)
    assert len(codec.encode(later)) * 8 < len(codec.encode(first))
    views = [schema.view(b, 0) for b in bufs]
    rebuilt = {c.name: np.array(views[0][c.name]) for c in schema.columns}
    before: dict[str, np.ndarray] = {}
    for delta in deltas:  # as a subscriber applies them: Repeat uses the previous delta
        now = {}
        for ch in codec.decode(codec.encode(_carrier_of(delta))).changes:
            now[ch.c] = rebuilt[ch.c].copy()
            apply_change(rebuilt[ch.c], ch, before.get(ch.c))
        before = now
    for c in schema.columns:
        assert _bits(rebuilt[c.name]) == _bits(views[3][c.name]), c.name
    again = differ.changes(bufs[2], bufs[3], bufs[1])  # not the base it built last: no Repeat
    assert not any(isinstance(ch, Repeat) for ch in again)
    differ.keyframe_columns(bufs[3])
    assert not any(isinstance(ch, Repeat) for ch in differ.changes(bufs[3], bufs[2], bufs[1]))
    differ.keyframe_columns(bufs[0])
    differ.changes(bufs[0], bufs[1])
    # without the previous old frame (not kept, or another one) nothing repeats
    assert not any(isinstance(ch, Repeat) for ch in differ.changes(bufs[1], bufs[2]))
    assert not any(isinstance(ch, Repeat) for ch in differ.changes(bufs[2], bufs[3], bufs[0]))


def _carrier_of(changes):
    from townlet.wire import Delta

    return Delta(v=SCHEMA_VERSION, stream="s", seq=1, tick=1, head_tick=1, sent_ns=0, schema_hash="h",
                 base_tick=0, changes=changes, events=[])


def _carrier(change):
    return _carrier_of([change])


def test_frame_diff_rebuilds_the_next_frame():
    state = make_state(400, seed=5)
    schema = FrameSchema.from_sections(state)
    differ = Differ(schema)
    rng = np.random.default_rng(1)
    bufs = []
    for tick in range(2):
        step(state, rng, tick, 0.3)
        buf = bytearray(schema.capacity)
        views = schema.view(buf, int(state["evt_len"][0]))
        for c in schema.columns:
            if c.role != "meta":
                views[c.name][...] = state[c.name]
        views["tick"][0] = tick
        bufs.append(buf)
    changes = differ.changes(bufs[0], bufs[1])
    names = {c.c for c in changes}
    assert "tick" in names and "agent_needs" in names and "obj_type" not in names
    old = schema.view(bufs[0], 0)
    rebuilt = {c.name: np.array(old[c.name]) for c in schema.columns}
    for ch in changes:
        apply_change(rebuilt[ch.c], ch)
    target = schema.view(bufs[1], 0)
    for c in schema.columns:
        assert _bits(rebuilt[c.name]) == _bits(target[c.name]), c.name


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from([0.0, 0.001, 0.05, 0.5, 1.0]))
def test_diff_finds_exactly_the_changed_columns(seed, rate):
    """The differ lists exactly the columns whose bytes changed, and each change rebuilds
    its column bit for bit: sparse and dense changes, odd column sizes, every dtype."""
    state = make_state(37, seed=seed % 1000)
    schema = FrameSchema.from_sections(state)
    rng = np.random.default_rng(seed)
    bufs = [bytearray(schema.capacity), bytearray(schema.capacity)]
    olds, news = schema.view(bufs[0], 0), schema.view(bufs[1], 0)
    for c in schema.columns:
        raw = rng.integers(0, 256, c.nbytes, dtype=np.uint8)
        olds[c.name].reshape(-1).view(np.uint8)[:] = raw
        flip = rng.random(c.nbytes) < rate
        raw[flip] ^= rng.integers(1, 256, int(flip.sum()), dtype=np.uint8)
        news[c.name].reshape(-1).view(np.uint8)[:] = raw
    changes = {ch.c: ch for ch in Differ(schema).changes(bufs[0], bufs[1])}
    for c in schema.columns:
        o, n = olds[c.name].reshape(-1), news[c.name].reshape(-1)
        moved = (o.view(np.uint8).reshape(o.size, -1) != n.view(np.uint8).reshape(n.size, -1))
        assert (c.name in changes) == bool(moved.any()), c.name
        if c.name in changes:
            got = np.array(olds[c.name])
            apply_change(got, changes[c.name])
            assert _bits(got) == _bits(news[c.name]), c.name


@pytest.mark.parametrize("change, message", [
    (Full("c", b"\0" * 3), "bytes, expected"),
    (Sparse("c", b"\0\0\0", b""), "multiple of 4"),
    (Sparse("c", np.array([99], "<u4").tobytes(), b"\0" * 4), "index 99"),
    (Sparse("c", np.array([1], "<u4").tobytes(), b"\0" * 3), "value bytes"),
    (Masked("c", b"\x01", b"\0" * 4), "mask of 1 bytes"),
    (Masked("c", b"\x03\x00", b"\0" * 4), "value bytes"),
    (Stepped("c", b"\0", b"\0\0", b"\0" * 4), "inconsistent"),
    (Stepped("c", np.array([3], "<u2").tobytes(), b"\0\0", b"\0" * 4), "component 3"),
    (Stepped("c", b"\0\0", np.array([5000], "<u2").tobytes(), b"\0" * 4), "exponent"),
    (Stepped("c", b"\0\0", b"\0\0", b"\0" * 4, Full("other", b"")), "bad fix-up"),
])
def test_malformed_changes_are_refused(change, message):
    arr = np.zeros(10, np.float32)
    with pytest.raises(WireError, match=message):
        apply_change(arr, change)


@pytest.mark.parametrize("change, dtype, message", [
    (Offset("c", b"\0", 1, index=b"\0" * 4), np.float32, "integer column"),
    (Offset("c", b"\0" * 8, 8, index=b"\0" * 4), np.int64, "width 8"),
    (Offset("c", b"\0" * 4, 4, index=b"\0" * 4), np.int32, "width 4"),
    (Offset("c", b"\0", 1), np.int32, "exactly one of index and mask"),
    (Offset("c", b"\0", 1, index=b"\0" * 4, mask=b"\x01\x00"), np.int32, "exactly one"),
    (Offset("c", b"\0\0", 1, index=b"\0" * 4), np.int32, "value bytes"),
    (Offset("c", b"\0", 1, index=np.array([10], "<u4").tobytes()), np.int32, "index 10"),
    (Offset("c", b"\0", 1, mask=b"\x01"), np.int32, "mask of 1 bytes"),
    (Stepped("c", b"\0\0", b"\0\0", b"\0" * 4, Offset("c", b"", 1, index=b"")), np.float32,
     "bad fix-up"),
    (Repeat("c", Full("other", b"\0" * 40)), np.float32, "bad fix-up"),
    (Repeat("c", Repeat("c")), np.float32, "bad fix-up"),
    (Repeat("c", Full("c", b"\0" * 3)), np.int32, "bytes, expected"),
    (Repeat("c"), np.dtype("|S16"), "1-, 2-, 4- or 8-byte"),
])
def test_malformed_offsets_are_refused(change, dtype, message):
    with pytest.raises(WireError, match=message):
        apply_change(np.zeros(10, dtype), change)


def test_step_encoding_needs_a_float_column():
    with pytest.raises(WireError, match="float32/float64"):
        apply_change(np.zeros(4, np.int32), Stepped("c", b"", b"", b""))


def test_codec_rejects_garbage():
    codec = Codec()
    with pytest.raises(WireError, match="undecodable telemetry"):
        codec.decode(b"\x93\x01\x02")
    with pytest.raises(WireError, match="undecodable resync"):
        codec.decode_resync(codec.encode(_carrier(Full("c", b""))))


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([1, 2, 4, 8, 3, 64]), st.integers(0, 700), st.integers(0, 2**31),
       st.sampled_from([0.0, 0.002, 0.1, 1.0]))
def test_c_scans_match_their_numpy_definitions(size, n, seed, rate):
    """core/scan.c: the changed elements are exactly those whose bytes differ (across
    block edges, any element size), and the Repeat misses are exactly the elements where
    the new value is not old + (old - before) in wrapping unsigned arithmetic."""
    from townlet.publish.diff import _changed, _repeat_misses

    rng = np.random.default_rng(seed)
    old = rng.integers(0, 256, (n, size), dtype=np.uint8)
    new = old.copy()
    flip = rng.random((n, size)) < rate
    new[flip] ^= rng.integers(1, 256, int(flip.sum()), dtype=np.uint8)
    dt = np.dtype(f"V{size}") if size not in (1, 2, 4, 8) else np.dtype(f"<u{size}")
    o, nw = old.view(dt).reshape(-1), new.view(dt).reshape(-1)
    want = np.flatnonzero((old != new).any(axis=1))
    assert np.array_equal(_changed(o, nw), want)
    if size in (1, 2, 4, 8):
        before = rng.integers(0, 256, (n, size), dtype=np.uint8).view(dt).reshape(-1)
        repeat = new.view(dt).reshape(-1).copy()
        keep = rng.random(n) < 0.9  # most elements move exactly by their last change
        repeat[keep] = (o + (o - before))[keep]
        miss, changed = _repeat_misses(o, repeat, before, np.empty(n, np.int64))
        assert np.array_equal(miss, np.flatnonzero(repeat != o + (o - before)))
        assert changed == np.count_nonzero(repeat != o)


def test_c_scan_compares_floats_by_their_bits():
    """NaN against the same NaN is unchanged, another NaN payload and -0.0 vs 0.0 changed."""
    from townlet.publish.diff import _changed

    old = np.array([np.nan, 0.0, 1.0, np.nan], np.float32)
    new = old.copy()
    new[1] = -0.0
    new[3:].view(np.uint32)[0] ^= 1  # another NaN
    assert _changed(old, new).tolist() == [1, 3]


def test_repeat_tested_only_where_a_sparse_column_moved_equals_the_full_test(monkeypatch):
    """A column that changed in few elements is tested for Repeat only where it moved last
    time or moves now: the deltas are byte for byte those of testing every element (walkers
    keeping their direction repeat, the others are fixed; needs take the full pass)."""
    from townlet.publish import diff

    rng = np.random.default_rng(3)
    state = make_state(4000, seed=3)
    schema = FrameSchema.from_sections(state)
    walkers = rng.choice(4000, 200, replace=False)
    rates = (rng.random((4000, 4)) * 1e-3 + 1e-4).astype(np.float32)
    states = []
    for t in range(6):
        state = {k: v.copy() for k, v in state.items()}
        state["agent_x"][walkers[: 150 - 20 * t]] += 1  # fewer keep walking each tick
        state["agent_y"][rng.choice(4000, 30, replace=False)] -= 1
        np.maximum(state["agent_needs"] - rates, np.float32(0), out=state["agent_needs"])
        states.append(state)
    bufs = _frames(schema, states)
    codec = Codec()

    def stream():
        differ = Differ(schema)
        differ.keyframe_columns(bufs[0])
        return [codec.encode(_carrier_of(differ.changes(bufs[i], bufs[i + 1],
                                                        bufs[i - 1] if i else None)))
                for i in range(len(bufs) - 1)]

    sparse = stream()
    assert any(isinstance(ch, Repeat) and ch.c == "agent_x"
               for ch in codec.decode(sparse[2]).changes)
    monkeypatch.setattr(diff, "_SPARSE", 10**12)  # never sparse: every element tested
    assert stream() == sparse
