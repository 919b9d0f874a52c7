"""Delta encodings: every encoding rebuilds the new column bit for bit; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from telemetry_helpers import no_shm_leak  # noqa: F401 - autouse fixture
from telemetry_writer import make_state, step

from townlet.frames import FrameSchema
from townlet.publish.diff import Differ, encode_change, step_change
from townlet.wire import Codec, Full, Masked, Sparse, Stepped, WireError, apply_change

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


def _carrier(change):
    from townlet.wire import Delta

    return Delta(v="2.0.0", stream="s", seq=1, tick=1, head_tick=1, sent_ns=0, schema_hash="h",
                 base_tick=0, changes=[change], events=[])


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


def test_step_encoding_needs_a_float_column():
    with pytest.raises(WireError, match="float32/float64"):
        apply_change(np.zeros(4, np.int32), Stepped("c", b"", b"", b""))


def test_codec_rejects_garbage():
    codec = Codec()
    with pytest.raises(WireError, match="undecodable telemetry"):
        codec.decode(b"\x93\x01\x02")
    with pytest.raises(WireError, match="undecodable resync"):
        codec.decode_resync(codec.encode(_carrier(Full("c", b""))))
