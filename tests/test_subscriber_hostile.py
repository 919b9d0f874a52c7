"""Malformed messages from a publisher never crash, exhaust or half-update a ``Subscriber``.

A test-side XPUB socket (``FakePublisher``) sends hand-broken and fuzzed messages
over TCP; the subscriber must count them, keep a consistent state and go on.
"""

from __future__ import annotations

import time

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telemetry_helpers import no_shm_leak  # noqa: F401 - autouse fixture
from telemetry_writer import make_state
from test_subscriber import FakePublisher

from townlet.client import Subscriber
from townlet.frames import FrameSchema
from townlet.frames.schema import ColumnDoc, SchemaDoc
from townlet.wire import TOPIC_FRAMES, TOPIC_HEALTH, Delta, Full, Keyframe, Stepped, WireError
from townlet.wire.codec import apply_change, check_schema


@pytest.fixture
def pair():
    pub = FakePublisher()
    sub = Subscriber(pub.endpoint, None, None, insecure_dev=True)
    pub.wait_subscribed()
    yield pub, sub
    sub.close()
    pub.close()


def _with_schema(kf: Keyframe, doc: SchemaDoc, columns: list[Full]) -> Keyframe:
    return msgspec.structs.replace(kf, schema=doc, schema_hash=FrameSchema(doc).hash.hex(),
                                   columns=columns)


def _snapshot(sub: Subscriber) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in sub.state.items()}


def test_a_huge_declared_shape_is_refused_before_allocating(pair):
    """Old subscriber: np.zeros of 2**40 elements raised ValueError out of recv()."""
    pub, sub = pair
    kf = pub.keyframe(1)
    cols = [ColumnDoc(c.name, c.dtype, [2**40] if c.name == "agent_x" else c.shape)
            for c in kf.schema.columns]
    pub.send(_with_schema(kf, SchemaDoc(kf.schema.version, cols, kf.schema.events), kf.columns))
    up = sub.recv(5)
    assert up.kind == "skipped" and sub.stats.bad_messages == 1 and not sub.synced
    pub.send(pub.keyframe(2))
    assert sub.recv(5).kind == "key" and sub.synced


def test_a_step_delta_on_a_zero_row_float_column_allocates_nothing(pair):
    """Old subscriber: the step table for 10M components raised MemoryError (153 GiB)."""
    pub, sub = pair
    kf = pub.keyframe(1)
    wide = ColumnDoc("zz_wide", "<f4", [0, 10_000_000])
    doc = SchemaDoc(kf.schema.version, [*kf.schema.columns, wide], kf.schema.events)
    kf = _with_schema(kf, doc, [*kf.columns, Full("zz_wide", b"")])
    pub.send(kf)
    assert sub.recv(5).kind == "key"
    step = Stepped("zz_wide", np.array([5], "<u2").tobytes(), np.array([127], "<u2").tobytes(),
                   np.array([1.0], "<f4").tobytes())
    pub.send(Delta(v=kf.v, stream=kf.stream, seq=2, tick=kf.tick + 1, head_tick=kf.tick + 1,
                   sent_ns=time.time_ns(), schema_hash=kf.schema_hash, base_tick=kf.tick,
                   changes=[step], events=kf.events))
    up = sub.recv(5)
    assert up.kind == "delta" and sub.synced and sub.state["zz_wide"].shape == (0, 10_000_000)


def test_a_keyframe_failing_half_way_changes_nothing(pair):
    """Old subscriber: a keyframe whose middle column was short, on the health topic, left
    the first half of the columns overwritten and ``synced`` true."""
    pub, sub = pair
    pub.send(pub.keyframe(1))
    sub.recv(5)
    pub.send(pub.delta(2))
    sub.recv(5)
    before, h = _snapshot(sub), sub.frame_hash()
    pub.delta(3)  # the next frame, never sent as a delta
    good = pub.keyframe(3)
    cols = list(good.columns)
    mid = len(cols) // 2
    cols[mid] = Full(cols[mid].c, bytes(cols[mid].data)[:-1])
    broken = msgspec.structs.replace(good, columns=cols)
    for msg, topic in ((broken, TOPIC_HEALTH), (good, TOPIC_HEALTH), (broken, TOPIC_FRAMES)):
        pub.send(msg, topic)
        assert sub.recv(5).kind == "skipped"
        assert all(np.array_equal(before[k], v) for k, v in sub.state.items())
    assert sub.stats.bad_messages == 3 and not sub.synced  # the last one was a gap
    assert sub.stats.gaps == 1
    pub.send(good)
    assert sub.recv(5).kind == "key" and sub.frame_hash() == pub.hashes[good.tick] != h


def test_a_message_above_the_size_limit_closes_the_connection_unread():
    """libzmq reads no further than ZMQ_MAXMSGSIZE and ends the connection (a protocol
    error is not retried): nothing is allocated or applied, and ``live`` turns false."""
    pub = FakePublisher()
    sub = Subscriber(pub.endpoint, None, None, insecure_dev=True, max_message_bytes=64 * 1024,
                     stale_intervals=0.2)
    try:
        pub.wait_subscribed()
        pub.send(pub.keyframe(1))
        assert sub.recv(5).kind == "key"
        pub.send_raw(b"\x00" * 100_000)
        pub.send(pub.keyframe(2))
        assert sub.recv(1) is None and sub.seq == 1 and sub.stats.bad_messages == 0
        assert not sub.live
    finally:
        sub.close()
        pub.close()
    with pytest.raises(ValueError, match="max_message_bytes"):
        Subscriber("tcp://127.0.0.1:1", None, None, insecure_dev=True, max_message_bytes=0)


@pytest.mark.parametrize("change, message", [
    (lambda c: c.name == "agent_x" and ColumnDoc(c.name, "<c8", c.shape), "not a frame dtype"),
    (lambda c: c.name == "agent_x" and ColumnDoc(c.name, c.dtype, [-1]), "must be non-empty"),
    (lambda c: c.name == "n_events" and ColumnDoc(c.name, "<i8", c.shape), "'n_events' must"),
    (lambda c: c.name == "code" and ColumnDoc(c.name, "<i4", c.shape), "'code' must be <i2"),
    (lambda c: c.name == "agent_x" and ColumnDoc(c.name, c.dtype, [2**62, 2**62]),
     "more than 1000000 bytes"),
])
def test_schema_check_refuses_what_cannot_be_read(change, message):
    doc = FrameSchema.from_sections(make_state(50, seed=1)).doc
    cols = [change(c) or c for c in doc.columns]
    evs = [change(c) or c for c in doc.events]
    with pytest.raises(WireError, match=message):
        check_schema(SchemaDoc(doc.version, cols, evs), 1_000_000)


def test_step_rule_is_the_same_with_a_dense_or_searched_table():
    """Columns with many components look entries up by search: same result as the rule."""
    rng = np.random.default_rng(4)
    for ncomp, rows in ((4, 3000), (40_000, 3)):  # dense table, binary search
        arr = rng.random((rows, ncomp), dtype=np.float32) * 4
        old = arr.copy().reshape(-1)
        comp = np.array([0, 3, 1], "<u2")
        exp = np.array([127, 128, 126], "<u2")
        step = np.array([0.5, -0.25, 2.0], "<f4")
        apply_change(arr, Stepped("x", comp.tobytes(), exp.tobytes(), step.tobytes()))
        want = old.copy()
        e = (old.view("<u4") >> 23) & 0xFF
        for c, x, s in zip(comp, exp, step, strict=True):
            hit = (np.arange(old.size) % ncomp == c) & (e == x)
            want[hit] = old[hit] + s
        assert np.array_equal(arr.reshape(-1).view("<u4"), want.view("<u4"))


# ------------------------------------------------------------------------ fuzzing
_LEAF = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
         | st.floats(allow_nan=True) | st.text(max_size=8) | st.binary(max_size=64)
         | st.sampled_from(["full", "sparse", "mask", "step", "repeat", "key", "delta", "health",
                            "end",
                            "<f4", "<i4", "|S64", "n_events", "agent_x", "agent_needs", "s1"]))
_VALUE = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=8)


_SHAPE = st.lists(st.sampled_from([0, 1, 3, 10**7, 2**31, 2**40, 2**62]) | st.integers(-2, 64),
                  min_size=0, max_size=3)


def _paths(obj, at=()):
    yield at
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) \
        if isinstance(obj, list) else ()
    for k, v in items:
        yield from _paths(v, (*at, k))


def _mutate(obj, path, op, value, cut: int):
    """``obj`` with the node at ``path`` replaced by ``value``, deleted, or (binary data)
    cut to ``cut`` bytes or extended by one."""
    if not path:
        return value if op == "set" else obj
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "bytes" and isinstance(parent[last], bytes):
        data = parent[last]
        parent[last] = data[:cut] if cut < len(data) else data + b"\x01"
    else:
        parent[last] = value
    return obj


def _rehash(tree) -> None:
    """Give a mutated keyframe the hash of its mutated schema (so the schema is used)."""
    try:
        schema = FrameSchema(msgspec.convert(tree["schema"], SchemaDoc))
        tree["schema_hash"] = schema.hash.hex()
    except (TypeError, KeyError, ValueError, msgspec.ValidationError):
        return


@pytest.fixture(scope="module")
def fuzz_pair():
    """A subscriber, and fixed messages to break: a keyframe (seq 1), the delta after it
    and the next keyframe, as msgpack bytes (every example starts from the same ones)."""
    pub = FakePublisher()
    sub = Subscriber(pub.endpoint, None, None, insecure_dev=True, max_message_bytes=1 << 24)
    pub.wait_subscribed()
    enc = pub.codec.encode
    base = {"key": enc(pub.keyframe(1)), "delta": enc(pub.delta(2)), "key2": enc(pub.keyframe(2))}
    yield pub, sub, base
    sub.close()
    pub.close()


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_messages_never_raise_or_half_apply(fuzz_pair, data):
    pub, sub, base = fuzz_pair
    pub.sock.send_multipart([TOPIC_FRAMES, base["key"]])
    assert sub.recv(5).kind == "key"
    for _ in range(data.draw(st.integers(1, 3), label="messages")):
        tree = msgspec.msgpack.decode(base[data.draw(st.sampled_from(["delta", "key2"]))])
        for _ in range(data.draw(st.integers(1, 3), label="mutations")):
            paths = list(_paths(tree))
            shapes = [q for q in paths if q[-1:] == (2,) and q[:2] == ("schema", "columns")]
            data_paths = [q for q in paths if q[-1:] in (("data",), ("values",), ("index",))]
            path = data.draw(st.sampled_from(paths) | st.sampled_from(shapes or paths)
                             | st.sampled_from(data_paths or paths), label="path")
            op = data.draw(st.sampled_from(["set", "delete", "bytes"]), label="op")
            value = data.draw(_SHAPE if path in shapes else _VALUE, label="value")
            tree = _mutate(tree, path, op, value, data.draw(st.integers(0, 4096), label="cut"))
        if data.draw(st.booleans(), label="rehash"):
            _rehash(tree)
        topic = data.draw(st.sampled_from([TOPIC_FRAMES, TOPIC_HEALTH, b"fz"]), label="topic")
        before = _snapshot(sub) if sub.synced else None
        pub.sock.send_multipart([topic, msgspec.msgpack.encode(tree)])
        up = sub.recv(5)
        assert up is not None
        if sub.synced:
            assert sub.schema is not None and len(sub.frame_hash()) == 64
            for c in sub.schema.columns:
                assert sub.state[c.name].shape == c.shape and sub.state[c.name].dtype == c.dtype
        if up.kind not in ("key", "delta") and before is not None and sub.synced:
            assert all(np.array_equal(before[k], v, equal_nan=v.dtype.kind == "f")
                       for k, v in sub.state.items()), "a refused message changed the state"
