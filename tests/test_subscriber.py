"""Subscriber against a real XPUB socket driven by the test: sync, gaps, resync, bad input."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import zmq
from telemetry_helpers import make_keys, no_shm_leak  # noqa: F401 - autouse fixture
from telemetry_writer import make_state, step

from townlet.client import Subscriber
from townlet.frames import FrameSchema, frame_hash
from townlet.publish.diff import Differ
from townlet.security import KeyFileError
from townlet.wire import (
    SCHEMA_VERSION,
    TOPIC_FRAMES,
    TOPIC_HEALTH,
    Codec,
    Delta,
    Full,
    Health,
    Keyframe,
    SkippedEvents,
)


class FakePublisher:
    """A test-side XPUB socket that sends hand-made frame messages."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.codec = Codec()
        self.state = make_state(120, seed=2)
        self.schema = FrameSchema.from_sections(self.state)
        self.differ = Differ(self.schema)
        self.rng = np.random.default_rng(3)
        self.tick = -1
        self.buf = self._frame()
        self.hashes: dict[int, str] = {}

    def _frame(self) -> bytearray:
        self.tick += 1
        step(self.state, self.rng, self.tick, 0.3)
        buf = bytearray(self.schema.capacity)
        n = int(self.state["evt_len"][0])
        views = self.schema.view(buf, n)
        for c in self.schema.columns:
            if c.role != "meta":
                views[c.name][...] = self.state[c.name]
        views["tick"][0], views["n_events"][0] = self.tick, n
        views["config_id"][0] = b"fake"
        for (col, sec) in (("code", "evt_code"), ("agent", "evt_agent"), ("other", "evt_other"),
                           ("obj", "evt_obj"), ("value", "evt_value")):
            views[col][...] = self.state[sec][:n]
        return buf

    def _hash(self, buf: bytearray) -> str:
        n = int(np.frombuffer(buf, "<i4", 1, self.schema.by_name["n_events"].offset)[0])
        return frame_hash(self.schema.view(buf, n), self.schema)

    def _n(self, buf) -> int:
        return int(np.frombuffer(buf, "<i4", 1, self.schema.by_name["n_events"].offset)[0])

    def wait_subscribed(self) -> None:
        assert self.sock.poll(5000), "no subscription arrived"
        while self.sock.poll(200):
            self.sock.recv()

    def keyframe(self, seq: int, stream: str = "s1", v: str = SCHEMA_VERSION, **kw) -> Keyframe:
        self.hashes[self.tick] = self._hash(self.buf)
        return Keyframe(v=v, stream=stream, seq=seq, tick=self.tick, head_tick=self.tick,
                        sent_ns=time.time_ns(), schema_hash=kw.pop("schema_hash",
                                                                   self.schema.hash.hex()),
                        schema=self.schema.doc, columns=self.differ.keyframe_columns(self.buf),
                        events=self.differ.event_columns(self.buf, self._n(self.buf)), **kw)

    def delta(self, seq: int, stream: str = "s1", **kw) -> Delta:
        old, self.buf = self.buf, self._frame()
        self.hashes[self.tick] = self._hash(self.buf)
        return Delta(v=SCHEMA_VERSION, stream=stream, seq=seq, tick=self.tick, head_tick=self.tick + 2,
                     sent_ns=time.time_ns(), schema_hash=self.schema.hash.hex(),
                     base_tick=kw.pop("base_tick", self.tick - 1),
                     changes=kw.pop("changes", None) or self.differ.changes(old, self.buf),
                     events=self.differ.event_columns(self.buf, self._n(self.buf)), **kw)

    def send(self, msg, topic: bytes = TOPIC_FRAMES) -> None:
        self.sock.send_multipart([topic, self.codec.encode(msg)])

    def send_raw(self, payload: bytes) -> None:
        self.sock.send_multipart([TOPIC_FRAMES, payload])

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture
def pair():
    pub = FakePublisher()
    sub = Subscriber(pub.endpoint, None, None, insecure_dev=True)
    pub.wait_subscribed()
    yield pub, sub
    sub.close()
    pub.close()


def test_keyframe_then_deltas_rebuild_the_frames(pair):
    pub, sub = pair
    with pytest.raises(RuntimeError, match="not synchronised"):
        sub.frame_hash()
    pub.send(pub.keyframe(1))
    up = sub.recv(5)
    assert up.kind == "key" and sub.synced and sub.frame_hash() == pub.hashes[up.tick]
    for seq in range(2, 8):
        pub.send(pub.delta(seq))
        up = sub.recv(5)
        assert up.kind == "delta" and up.lag_ticks == 2
        assert sub.frame_hash() == pub.hashes[up.tick]
        assert up.events.size == int(pub.state["evt_len"][0])
        assert (up.events["tick"] == up.tick).all()
    assert sub.stats.keyframes == 1 and sub.stats.deltas == 6 and sub.config_id == "fake"
    for arr in sub.state.values():
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = 0
    cols = sub.frame_columns()
    cols["agent_x"][...] = -1  # a private copy
    assert not (sub.state["agent_x"] == -1).all()


def test_sequence_gap_requests_a_resync_and_waits_for_a_keyframe(pair):
    pub, sub = pair
    pub.send(pub.keyframe(1))
    sub.recv(5)
    pub.delta(2)  # never sent: a drop
    pub.delta(3)
    pub.send(pub.delta(4))
    up = sub.recv(5)
    assert up.kind == "skipped" and not sub.synced
    assert sub.stats.gaps == 1 and sub.stats.missed == 2
    assert pub.sock.poll(5000)
    req = pub.codec.decode_resync(pub.sock.recv())
    assert (req.stream, req.last_seq, req.missed) == ("s1", 1, 2)
    pub.send(pub.delta(5))
    assert sub.recv(5).kind == "skipped" and sub.stats.ignored == 2
    pub.send(pub.keyframe(6))
    up = sub.recv(5)
    assert up.kind == "key" and sub.synced and sub.frame_hash() == pub.hashes[up.tick]


def test_gap_ending_at_a_keyframe_is_reported_without_asking_for_one(pair):
    pub, sub = pair
    pub.send(pub.keyframe(1))
    sub.recv(5)
    pub.delta(2)  # dropped
    pub.send(pub.keyframe(3))
    up = sub.recv(5)
    assert up.kind == "key" and sub.synced and sub.stats.gaps == 1 and sub.stats.missed == 1
    assert pub.sock.poll(5000)
    req = pub.codec.decode_resync(pub.sock.recv())
    assert (req.last_seq, req.missed, req.want_keyframe) == (1, 1, False)


@pytest.mark.parametrize("breakage", ["base_tick", "stream"])
def test_wrong_base_or_new_stream_is_a_gap(pair, breakage):
    pub, sub = pair
    pub.send(pub.keyframe(1))
    sub.recv(5)
    kw = {"base_tick": 999} if breakage == "base_tick" else {"stream": "other"}
    pub.send(pub.delta(2, **kw))
    assert sub.recv(5).kind == "skipped" and not sub.synced and sub.stats.gaps == 1


@pytest.mark.parametrize("make, why", [
    (lambda pub: b"\xc1 not msgpack", "garbage"),
    (lambda pub: pub.codec.encode(pub.keyframe(1, v="1.0.0")), "major version (v1: float money)"),
    (lambda pub: pub.codec.encode(pub.keyframe(1, schema_hash="00" * 32)), "schema hash"),
])
def test_bad_messages_are_counted_and_never_applied(pair, make, why):
    pub, sub = pair
    pub.send_raw(make(pub))
    up = sub.recv(5)
    assert up.kind == "skipped", why
    assert sub.stats.bad_messages == 1 and not sub.synced


def test_delta_for_an_unknown_column_breaks_sync(pair):
    pub, sub = pair
    pub.send(pub.keyframe(1))
    sub.recv(5)
    pub.send(pub.delta(2, changes=[Full("no_such_column", b"")]))
    assert sub.recv(5).kind == "skipped"
    assert not sub.synced and sub.stats.bad_messages == 1


def test_health_reveals_a_lost_tail(pair):
    """The last frame messages were dropped and the simulation paused: the next health
    message (same socket, so in order) shows a newer seq, which is a gap."""
    pub, sub = pair
    pub.send(pub.keyframe(1))
    sub.recv(5)
    pub.delta(2)
    pub.delta(3)  # both dropped, nothing follows
    pub.send(Health(v=SCHEMA_VERSION, stream="s1", seq=1, sent_ns=time.time_ns(), head_tick=9,
                    last_tick=pub.tick, writer_alive=True, frames_read=3, keyframes_sent=1,
                    deltas_sent=2, bytes_sent=1, dropped_reported=0, torn_reads=0,
                    subscribers=1, handshake_failures=0, last_seq=3), TOPIC_HEALTH)
    assert sub.recv(5).kind == "health"
    assert not sub.synced and sub.stats.gaps == 1 and sub.stats.missed == 2
    assert pub.sock.poll(5000)
    req = pub.codec.decode_resync(pub.sock.recv())
    assert (req.last_seq, req.missed, req.want_keyframe) == (1, 2, True)


def test_health_and_skipped_events_and_iterator(pair):
    pub, sub = pair
    health = Health(v=SCHEMA_VERSION, stream="s1", seq=1, sent_ns=time.time_ns(), head_tick=5,
                    last_tick=3, writer_alive=True, frames_read=4, keyframes_sent=1,
                    deltas_sent=3, bytes_sent=100, dropped_reported=0, torn_reads=0,
                    subscribers=1, handshake_failures=0)
    pub.send(health, TOPIC_HEALTH)
    up = next(iter(sub))
    assert up.kind == "health" and up.lag_ticks == 2 and sub.last_health == health
    codes = np.array([7, 8], "<i2").tobytes()
    extra = SkippedEvents(tick=0, events=[
        Full("code", codes), Full("agent", np.array([1, 2], "<i4").tobytes()),
        Full("other", np.array([-1, -1], "<i4").tobytes()),
        Full("obj", np.array([-1, -1], "<i4").tobytes()),
        Full("value", np.array([0.5, 1.5], "<f4").tobytes())])
    pub.send(pub.keyframe(1, skipped=[extra]))
    up = sub.recv(5)
    assert up.events[:2]["code"].tolist() == [7, 8] and up.events[:2]["tick"].tolist() == [0, 0]
    assert (up.events[2:]["tick"] == up.tick).all()


def test_constructor_checks_keys(tmp_path):
    with pytest.raises(ValueError, match="server_key and client_key_file are required"):
        Subscriber("tcp://127.0.0.1:1", None, None)
    keys = make_keys(tmp_path)
    with pytest.raises(ValueError, match="server's public key file or its 40-char"):
        Subscriber("tcp://127.0.0.1:1", "short", keys["viewer"])
    loose = tmp_path / "loose.key_secret"
    loose.write_bytes(keys["viewer"].read_bytes())
    os.chmod(loose, 0o644)
    with pytest.raises(KeyFileError, match="accessible by others"):
        Subscriber("tcp://127.0.0.1:1", keys["server"], loose)
