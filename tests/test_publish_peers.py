"""A hostile client among well-behaved ones: it can only affect its own connection.

Each test runs a real writer and publisher; a bare XSUB socket plays the hostile
viewer (valid key, arbitrary upstream messages) next to a ``Subscriber``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import msgspec
import pytest
import zmq
from _keys import curve_client
from telemetry_helpers import (
    free_port,
    make_keys,
    metrics,
    no_shm_leak,  # noqa: F401 - autouse fixture
    raw_client,
    rss_kib,
    send_raw,
    start_publisher,
    start_writer,
    stop,
    wait_until,
)
from zmq.utils.monitor import recv_monitor_message

from townlet.client import Subscriber
from townlet.publish.peers import MAX_TOPICS, MAX_UPSTREAM_BYTES
from townlet.security import (
    REGISTRY_FILE,
    issue_key,
    key_fingerprint,
    load_keypair,
    load_public_key,
    revoke_keys,
)
from townlet.security.registry import RegistryDoc, update_registry, utcnow
from townlet.wire import Codec, Resync

_DISCONNECTED = 'townlet_publish_subscribers_disconnected_total{{reason="{}"}}'


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory.mktemp("peers"))


@pytest.fixture
def town(keys):
    writer, info = start_writer("--agents", "300", "--ticks", "100000", "--rate", "50")
    mport = free_port()
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--metrics-port", str(mport), "--health-seconds", "0.2")
    try:
        yield SimpleNamespace(pub=pub, writer=writer, endpoint=ready["endpoint"], stream=ready["stream"],
                              metric=lambda name: metrics(mport).get(name, 0.0),
                              metrics=lambda: metrics(mport))
    finally:
        stop(writer)
        stop(pub)


def _frames(sub: Subscriber, n: int, timeout: float = 60.0) -> None:
    """Receive until ``n`` frame messages were applied; fail if the stream stops."""
    deadline = time.monotonic() + timeout
    got = 0
    while got < n:
        assert time.monotonic() < deadline, f"frames stopped after {got} of {n}"
        up = sub.recv(0.2)
        got += up is not None and up.kind in ("key", "delta")


def _seq_now(sub: Subscriber) -> int:
    """``last_seq`` of a health message sent after this call: every frame message the
    publisher sent before this call has a ``seq`` <= it."""
    now = time.time_ns()
    while True:
        up = sub.recv(60)
        assert up is not None, "no health message"
        if up.kind == "health" and up.health.sent_ns > now:
            return up.health.last_seq


def _until_past(sub: Subscriber, seq: int) -> None:
    """Keep ``sub`` receiving until it applied a frame message later than ``seq``."""
    deadline = time.monotonic() + 60
    while not (sub.synced and sub.seq > seq):
        assert time.monotonic() < deadline, f"frames stopped before seq {seq}"
        sub.recv(0.2)


@contextmanager
def _kept_reading(sub: Subscriber, seqs: list[int] | None = None) -> Iterator[None]:
    """Receive on ``sub`` from a thread while the test drives the hostile client: left
    unread on a loaded box, its 64-message queue would overflow (a gap the publisher did
    not cause) and the publisher would buffer its backlog (memory it did not leak).
    ``seqs`` collects the sequence numbers of the frame messages it applied."""
    done = threading.Event()

    def receive() -> None:
        while not done.is_set():
            up = sub.recv(0.05)
            if seqs is not None and up is not None and up.kind in ("key", "delta"):
                seqs.append(up.seq)

    reader = threading.Thread(target=receive)
    reader.start()
    try:
        yield
    finally:
        done.set()
        reader.join()


def _frame_seqs(sock) -> list[int]:
    """Sequence numbers of the frame messages already queued on a raw client."""
    out = []
    while sock.poll(0):
        topic, payload = sock.recv_multipart()
        if topic == b"f":
            out.append(msgspec.msgpack.decode(payload)["seq"])
    return out


def test_foreign_unsubscribes_stop_only_the_sender_and_connections_are_counted(town, keys):
    """Old publisher: every subscription message counted as a subscriber, and unsubscribes
    for topics never held drove the global count to 0, stopping frames for everyone."""
    bad_upstream = "townlet_publish_bad_upstream_messages_total"
    with Subscriber(town.endpoint, keys["server"], keys["viewer"]) as good:
        _frames(good, 3)
        ctx, bad = raw_client(town.endpoint, keys, "admin")
        try:
            with _kept_reading(good):
                for topic in (b"f", b"f", b"f", b"", b"h", b"f"):
                    bad.send(b"\x01" + topic)
                wait_until(lambda: _frame_seqs(bad), "the hostile client receives frames")
                assert town.metric("townlet_publish_subscribers") == 2  # connections, not messages
                # Each send_raw is one message whose empty first part the publisher counts as
                # a bad upstream message. Every part stays within MAX_UPSTREAM_BYTES with
                # CURVE's overhead (about 470 bytes of content): a longer one closes the
                # connection, the count drops with no unsubscribe read, and the client's
                # reconnect subscribes again to what its socket holds.
                send_raw(bad, *(b"\x00" + t for t in (b"zz", b"h", b"ff", b"f", b"", b"f",
                                                      b"x" * 400)))
                send_raw(bad, b"\x00f", b"\x00f")  # zz, ff, x...: never held; f: several times
                wait_until(lambda: town.metric(bad_upstream) >= 2
                           and town.metric("townlet_publish_subscribers") == 1,
                           "the hostile client's own unsubscribes applied")
            cut = _seq_now(good)
            _until_past(good, cut + 10)  # the well-behaved subscriber keeps its frames
            late = [s for s in _frame_seqs(bad) if s > cut]
            assert not late, f"frames {late} after the unsubscribes (the last before: {cut})"
            assert good.stats.gaps == 0
        finally:
            bad.close(0)
            ctx.term()
        wait_until(lambda: town.metric("townlet_publish_subscribers") == 1,
                   "a closed connection leaves the count")


def test_an_oversized_upstream_message_closes_only_its_own_connection(town, keys):
    """ZMQ_MAXMSGSIZE: an upstream message longer than MAX_UPSTREAM_BYTES closes the
    connection that sent it, inside libzmq, before the publisher reads it. The publisher
    forgets that connection (its ``Peer``: the subscriber count drops), and the town, the
    publisher and the other subscribers go on: frames arrive in order, without a gap, and
    a new connection is served. A message within the limit is only counted as bad."""
    bad_upstream = "townlet_publish_bad_upstream_messages_total"
    subscribers = "townlet_publish_subscribers"
    seqs: list[int] = []
    with Subscriber(town.endpoint, keys["server"], keys["viewer"]) as good:
        _frames(good, 3)
        ctx = zmq.Context()
        bad = curve_client(ctx, town.endpoint, load_public_key(keys["server"]),
                           load_keypair(keys["admin"]), zmq.XSUB, {zmq.RECONNECT_IVL: -1})
        monitor = bad.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        try:
            with _kept_reading(good, seqs):
                bad.send(b"\x01f")
                wait_until(lambda: _frame_seqs(bad), "the hostile client receives frames")
                wait_until(lambda: town.metric(subscribers) == 2, "two frame subscribers")
                bad.send(b"\x02" + b"x" * 400)  # within the limit with CURVE's overhead
                wait_until(lambda: town.metric(bad_upstream) == 1, "the short message is read")
                _frame_seqs(bad)  # drop what was sent before it was read
                wait_until(lambda: _frame_seqs(bad), "the hostile client keeps its frames")
                bad.send(b"\x02" + b"x" * (2 * MAX_UPSTREAM_BYTES))
                assert monitor.poll(60_000), "the oversized message did not close the connection"
                assert recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED
                wait_until(lambda: town.metric(subscribers) == 1,
                           "the publisher forgets the closed connection")
                closed_at = len(seqs)
                wait_until(lambda: len(seqs) > closed_at + 10, "frames after the close")
            assert town.metric(bad_upstream) == 1, "the oversized message reached the publisher"
        finally:
            bad.disable_monitor()
            monitor.close(0)
            bad.close(0)
            ctx.term()
        assert seqs and seqs == list(range(seqs[0], seqs[0] + len(seqs))), "frames out of order"
        assert good.stats.gaps == 0 and good.stats.missed == 0
        with Subscriber(town.endpoint, keys["server"], keys["viewer"]) as fresh:
            _frames(fresh, 3)
        assert town.pub.poll() is None and town.writer.poll() is None


def _unread_connections(port: int) -> int:
    """Established TCP connections to ``port`` on this host holding bytes their owner has
    not read yet (/proc/net/tcp: local address, state, tx:rx queue)."""
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == port \
                and int(f[4].split(":")[1], 16) > 0:
            n += 1
    return n


def _stopped(pid: int) -> bool:
    """True when every thread of ``pid`` is stopped (by SIGSTOP)."""
    return all(Path(t, "stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
               for t in Path(f"/proc/{pid}/task").iterdir())


def test_each_subscription_changes_only_its_own_connection(town, keys):
    """Old publisher (ZMQ_XPUB_MANUAL): libzmq applied ZMQ_SUBSCRIBE to the connection at
    the head of a queue that only (un)subscriptions join, so when messages of two
    connections, each an empty first part and then an (un)subscription, were read in one
    batch, one connection's change went to the other: A kept its frames after leaving, or
    B never got the frames it joined (which one depends on which is read first)."""
    bad_upstream = "townlet_publish_bad_upstream_messages_total"
    port = int(town.endpoint.rsplit(":", 1)[1])
    with Subscriber(town.endpoint, keys["server"], keys["viewer"]) as good:
        _frames(good, 3)
        ctx_a, a = raw_client(town.endpoint, keys, "admin")
        ctx_b, b = raw_client(town.endpoint, keys)
        try:
            a.send(b"\x01f")
            b.send(b"\x01h")
            wait_until(lambda: _frame_seqs(a), "A receives frames")
            wait_until(lambda: b.poll(0), "B receives health")
            os.kill(town.pub.pid, signal.SIGSTOP)  # both messages are read in one batch
            try:
                wait_until(lambda: _stopped(town.pub.pid), "the publisher stops")
                send_raw(a, b"\x00f")
                send_raw(b, b"\x01f")
                wait_until(lambda: _unread_connections(port) >= 2,
                           "both messages wait at the stopped publisher")
            finally:
                os.kill(town.pub.pid, signal.SIGCONT)
            with _kept_reading(good):
                wait_until(lambda: town.metric(bad_upstream) >= 2,
                           "the publisher read both messages")
            cut = _seq_now(good)
            _until_past(good, cut + 10)
            assert not [s for s in _frame_seqs(a) if s > cut], "A's frames went on after it left"
            assert [s for s in _frame_seqs(b) if s > cut], "B did not get the frames it joined"
            assert town.metric("townlet_publish_subscribers") == 2
        finally:
            for ctx, sock in ((ctx_a, a), (ctx_b, b)):
                sock.close(0)
                ctx.term()


def test_a_connection_cannot_pile_up_subscriptions(town, keys):
    """Old publisher: every distinct subscription of a connection stayed stored while it
    was open (waves of 400-byte topics: about 20 kB each, without bound)."""
    with Subscriber(town.endpoint, keys["server"], keys["viewer"]) as good:
        _frames(good, 20)
        town.metric("townlet_publish_subscribers")  # the exporter's first scrape allocates too
        before = rss_kib(town.pub.pid)
        ctx, bad = raw_client(town.endpoint, keys)
        closed = _DISCONNECTED.format("too_many_topics")
        try:
            bad.send(b"\x01f")  # kept by the XSUB socket: sent again on every reconnect
            with _kept_reading(good):
                for wave in range(1, 21):
                    wait_until(lambda: _frame_seqs(bad), "the hostile client is connected")
                    send_raw(bad, *(b"\x01" + (wave * 1000 + i).to_bytes(4, "big") * 100
                                    for i in range(100)))
                    wait_until(lambda w=wave: town.metric(closed) >= w,
                               f"a connection holding more than {MAX_TOPICS} topics is closed")
            _frames(good, 10)
        finally:
            bad.close(0)
            ctx.term()
        grown = rss_kib(town.pub.pid) - before
        assert grown < 16 * 1024, f"publisher grew by {grown} KiB over 2,000 topics"
        assert town.metric("townlet_publish_refused_subscriptions_total") >= 20 * (MAX_TOPICS - 1)
        wait_until(lambda: town.metric("townlet_publish_subscribers") == 1,
                   "the closed hostile client leaves the count")
        _frames(good, 5)
        assert good.stats.gaps == 0


def test_resync_reports_are_bounded_and_attributed_per_client(town, keys):
    """Old publisher: 20 resyncs claiming 1M lost messages each added 20M to the metric."""
    with Subscriber(town.endpoint, keys["server"], keys["viewer"]) as good:
        _frames(good, 3)
        ctx, bad = raw_client(town.endpoint, keys, "admin")
        try:
            bad.send(b"\x01f")
            wait_until(lambda: _frame_seqs(bad), "the hostile client receives frames")
            codec = Codec()
            for _ in range(20):
                bad.send(codec.encode(Resync(stream=town.stream, last_seq=0, missed=1_000_000)))
            wait_until(lambda: town.metric("townlet_publish_resync_requests_total") >= 20,
                       "the resync requests arrive")
            m = town.metrics()
            sent = m["townlet_publish_keyframes_sent_total"] + m["townlet_publish_deltas_sent_total"]
            dropped = m["townlet_publish_dropped_messages_total"]
            assert dropped <= sent, f"{dropped} reported lost of {sent} sent"
            admin = key_fingerprint(load_keypair(keys["admin"]).public)
            assert m[f'townlet_publish_client_dropped_messages_total{{client="{admin}"}}'] == dropped
            _frames(good, 5)
        finally:
            bad.close(0)
            ctx.term()


def _expire_soon(registry: Path, key_id: str, left: timedelta) -> None:
    """Move a key's expiry to ``left`` from now (a key issued with a short lifetime could
    expire on a loaded box before its subscriber even got connected)."""
    def change(doc: RegistryDoc) -> RegistryDoc:
        doc.keys = [msgspec.structs.replace(r, expires_at=utcnow() + left)
                    if r.key_id == key_id else r for r in doc.keys]
        return doc

    update_registry(registry, change)


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_an_open_subscription_is_cut_when_its_key_is_revoked_or_expires(town, keys, how):
    """Old publisher: ZAP ran at the handshake only, so an open connection kept receiving."""
    name = f"doomed-{how}"
    rec, keyfile = issue_key(keys["dir"], name, "viewer")
    with Subscriber(town.endpoint, keys["server"], keys["viewer"]) as good, \
            Subscriber(town.endpoint, keys["server"], keyfile, health=False) as doomed:
        _frames(doomed, 3)
        if how == "revoked":
            revoke_keys(keys["dir"], name)
        else:  # connected and receiving: now its expiry comes up, two seconds ahead
            _expire_soon(keys["dir"] / REGISTRY_FILE, rec.key_id, timedelta(seconds=2))
        wait_until(lambda: town.metric(_DISCONNECTED.format(f"key_{how}")) >= 1,
                   f"the connection of the {how} key is closed", timeout=30)
        cut = _seq_now(good)
        _until_past(good, cut + 10)
        late = []
        while (up := doomed.recv(0)) is not None:
            late += [up.seq] if up.seq > cut else []
        assert not late, f"the {how} key still received frame messages {late}"
        wait_until(lambda: town.metric("townlet_publish_handshake_failures_total") >= 1,
                   "its reconnects are refused at the handshake")
