"""Per-connection subscription state of the publisher: what each subscriber may change.

libzmq's XPUB matches every connection against that connection's own subscriptions,
but by default it passes (un)subscriptions up only when they change the union of all
connections' tables, without saying who sent them; a global count therefore let any
viewer stop the stream for everyone. With ``ZMQ_XPUB_VERBOSER`` every
(un)subscription is passed up, repeated or not, and every upstream message names its
connection: the socket descriptor (``ZMQ_SRCFD``, checked by inode) and, with CURVE, a
User-Id unique per handshake. libzmq itself applies a subscription to the connection
it came from. ``ZMQ_XPUB_MANUAL`` is not used: its ``ZMQ_SUBSCRIBE`` goes to the
connection at the head of a queue that only (un)subscriptions join, so after any other
upstream message (a resync request, a hostile client's bytes) it applied the next
connection's subscription to another connection.

Per connection (``Peer``) the publisher keeps the subscriptions libzmq holds for
it (at most ``MAX_TOPICS``: libzmq stores even refused topics until the
connection ends, so a connection asking for more is disconnected), the accepted
ones (prefixes of a topic that is published; any other matches nothing ever sent),
the range of frame messages it may still report lost (each message once, only while
it received frames), and its
key id, re-checked every ``KEY_CHECK_SECONDS``: a revoked or expired key is
disconnected and its reconnects fail the handshake. A connection is disconnected
with ``shutdown(2)`` on a duplicate of its descriptor, after checking that the
descriptor still is that socket. The monitor's ACCEPTED and DISCONNECTED events
(which carry the descriptor) start and end a ``Peer``, and the monitor is drained
before each upstream message, so only accepted connections are ever touched. A
closed connection's leftover messages are recognised by their lower handshake
number; without CURVE (development only) they may be charged to a new connection
that reuses the descriptor at once.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import structlog
import zmq
from zmq.utils.monitor import recv_monitor_message

from townlet.publish.metrics import PublisherMetrics
from townlet.security import KeyStatus, split_user_id
from townlet.wire.codec import Codec, WireError
from townlet.wire.messages import TOPIC_FRAMES, TOPIC_HEALTH

__all__ = ["KEY_CHECK_SECONDS", "MAX_TOPICS", "MAX_UPSTREAM_BYTES", "MONITOR_EVENTS",
           "UPSTREAM_HWM", "UPSTREAM_RCVBUF", "Peer", "Peers"]

_log = structlog.get_logger("townlet.publish")

MAX_TOPICS = 8
"""Subscriptions (accepted or refused) one connection may hold; more closes the connection."""
MAX_UPSTREAM_BYTES = 512
"""ZMQ_MAXMSGSIZE of the publisher socket: a longer upstream message closes the connection.
It also bounds handshake commands, so it must exceed CURVE's INITIATE (about 300 bytes)."""
UPSTREAM_HWM = 32
"""ZMQ_RCVHWM of the publisher socket (messages queued per connection)."""
UPSTREAM_RCVBUF = 64 * 1024
"""ZMQ_RCVBUF (SO_RCVBUF) of accepted connections. libzmq copies every queued subscription
of a connection into its table (about 50 bytes per topic byte) as soon as it reads it,
so this bounds what a connection that is being closed can still deliver."""
KEY_CHECK_SECONDS = 0.5
"""Interval of the key re-check: a revoked or expired key is cut within about this time."""
PUBLISHED_TOPICS = (TOPIC_FRAMES, TOPIC_HEALTH)

_HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                     | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
MONITOR_EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | _HANDSHAKE_FAILED
"""Socket monitor events ``Peers`` consumes."""


def _inode(fd: int) -> int | None:
    try:
        return os.fstat(fd).st_ino
    except OSError:
        return None


class Peer:
    """One subscriber connection."""

    __slots__ = ("accepted", "credited", "dropped", "fd", "handshake", "ino", "joined", "key_id",
                 "kicked", "topics")

    def __init__(self, fd: int, ino: int | None) -> None:
        self.fd, self.ino = fd, ino
        self.key_id: str | None = None
        """Key id from the ZAP User-Id (None without CURVE)."""
        self.handshake: int | None = None
        """Handshake number from the User-Id: a lower one is an earlier connection's leftover."""
        self.topics: set[bytes] = set()
        """Every subscription libzmq holds for this connection."""
        self.accepted: set[bytes] = set()
        """Its subscriptions that match a published topic (prefixes of one)."""
        self.joined = 0
        """Frame ``seq`` when it started receiving frames: it cannot have lost earlier ones."""
        self.credited = 0
        """Highest frame ``seq`` whose loss it reported and was counted."""
        self.dropped = 0
        self.kicked: str | None = None

    @property
    def frames(self) -> bool:
        """True while it receives frame messages."""
        return not self.kicked and any(TOPIC_FRAMES.startswith(t) for t in self.accepted)

    @property
    def label(self) -> str:
        return self.key_id or "insecure"


class Peers:
    """Upstream side of the publisher socket: subscriptions, resyncs and disconnects."""

    def __init__(self, sock: zmq.Socket, monitor: zmq.Socket, metrics: PublisherMetrics,
                 stream: str, key_status: Callable[[str], KeyStatus] | None = None) -> None:
        self.sock, self.monitor, self.metrics, self.stream = sock, monitor, metrics, stream
        self.key_status = key_status
        self.codec = Codec()
        self.by_fd: dict[int, Peer] = {}
        self.frame_subscribers = 0
        """Connections currently receiving frames (the ``subscribers`` gauge)."""
        self.handshake_failures = 0
        self.dropped = 0
        """Frame messages subscribers reported lost, as counted (bounded per connection)."""
        self._next_check = 0.0

    # ---------------------------------------------------------------- inputs
    def drain(self, seq: int) -> bool:
        """Handle every pending upstream message (``seq``: last frame message sent).

        Returns True if a connection asked for a keyframe (it joined or resyncs).
        """
        want = False
        while True:
            self.drain_monitor()
            try:
                frame = self.sock.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            want |= self._on_message(frame, seq)
        self._count()
        return want

    def drain_monitor(self) -> None:
        """Handle socket events: ACCEPTED starts a connection's ``Peer``, DISCONNECTED ends it."""
        changed = False
        while True:
            try:
                ev = recv_monitor_message(self.monitor, zmq.NOBLOCK)
            except zmq.Again:
                break
            fd = int(ev["value"])
            if ev["event"] == zmq.EVENT_ACCEPTED:
                changed |= self.by_fd.pop(fd, None) is not None
                self.by_fd[fd] = Peer(fd, _inode(fd))
            elif ev["event"] == zmq.EVENT_DISCONNECTED:
                changed |= self.by_fd.pop(fd, None) is not None
            elif ev["event"] & _HANDSHAKE_FAILED:
                self.handshake_failures += 1
                self.metrics.handshake_failures.inc()
        if changed:
            self._count()

    def check_keys(self) -> None:
        """Every KEY_CHECK_SECONDS: cut connections whose key is no longer valid, and forget
        connections whose descriptor is gone (in case a monitor event was missed)."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + KEY_CHECK_SECONDS
        self.drain_monitor()
        for fd, peer in list(self.by_fd.items()):
            if _inode(fd) != peer.ino:
                del self.by_fd[fd]
            elif peer.key_id is not None and self.key_status is not None and not peer.kicked:
                status = self.key_status(peer.key_id)
                if status is not KeyStatus.VALID:
                    self._kick(peer, f"key_{status.value}")
        self._count()

    # ------------------------------------------------------------- internals
    def _peer_of(self, frame: zmq.Frame) -> Peer | None:
        try:
            fd = frame.get(zmq.SRCFD)
        except zmq.ZMQError:
            return None  # libzmq's own unsubscriptions for a closed connection
        ino = _inode(fd)
        if ino is None:
            return None  # the connection is closed already
        peer = self.by_fd.get(fd)
        if peer is None or peer.ino != ino:
            return None  # not (or no longer) an accepted connection: a closed one's leftover
        try:
            key_id, n = split_user_id(str(frame.get("User-Id")))
        except zmq.ZMQError:
            key_id, n = None, None
        if n is None:
            return peer  # no ZAP: a plaintext development publisher
        if peer.handshake is not None and n < peer.handshake:
            return None  # an earlier connection's leftover on a reused descriptor
        if peer.handshake is not None and n > peer.handshake:  # what came before was one
            peer = self.by_fd[fd] = Peer(fd, ino)
        peer.key_id, peer.handshake = key_id, n
        return peer

    def _on_message(self, frame: zmq.Frame, seq: int) -> bool:
        peer = self._peer_of(frame)
        if peer is None or peer.kicked:
            return False
        data = frame.bytes
        if data[:1] == b"\x01":
            return self._subscribe(peer, data[1:], seq)
        if data[:1] == b"\x00":
            self._unsubscribe(peer, data[1:])
            return False
        return self._resync(peer, data, seq)

    def _subscribe(self, peer: Peer, topic: bytes, seq: int) -> bool:
        peer.topics.add(topic)
        if len(peer.topics) > MAX_TOPICS:
            self._kick(peer, "too_many_topics")
            return False
        if not any(t.startswith(topic) for t in PUBLISHED_TOPICS):
            self.metrics.refused.inc()  # matches nothing ever sent
            return False
        was = peer.frames
        peer.accepted.add(topic)
        if peer.frames and not was:
            peer.joined = peer.credited = seq
            return True  # a new frame subscriber starts from a keyframe
        return False

    def _unsubscribe(self, peer: Peer, topic: bytes) -> None:
        peer.topics.discard(topic)
        peer.accepted.discard(topic)

    def _resync(self, peer: Peer, data: bytes, seq: int) -> bool:
        try:
            req = self.codec.decode_resync(data)
        except WireError:
            self.metrics.bad_upstream.inc()
            return False
        self.metrics.resyncs.inc()
        if not peer.frames:
            return False
        if req.stream == self.stream:
            # It can only have lost messages sent while it received frames, each once.
            hi = min(req.last_seq + max(req.missed, 0), seq)
            credit = max(0, hi - max(req.last_seq, peer.credited, peer.joined))
            peer.credited = max(peer.credited, hi)
            if credit:
                peer.dropped += credit
                self.dropped += credit
                self.metrics.dropped.inc(credit)
                self.metrics.client_dropped.labels(peer.label).inc(credit)
        return req.want_keyframe

    def _kick(self, peer: Peer, reason: str) -> None:
        """Close ``peer``'s connection (libzmq then drops its subscriptions)."""
        peer.kicked = reason
        self.metrics.disconnects.labels(reason).inc()
        _log.warning("subscriber_disconnected", reason=reason, key_id=peer.key_id,
                     topics=len(peer.topics), dropped_reported=peer.dropped)
        try:
            dup = os.dup(peer.fd)
        except OSError:
            return
        if _inode(dup) != peer.ino:  # the descriptor is another socket by now
            os.close(dup)
            return
        try:
            sock = socket.socket(fileno=dup)  # owns (and closes) only the duplicate
        except OSError:
            os.close(dup)
            return
        with sock:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                return

    def _count(self) -> None:
        self.frame_subscribers = sum(p.frames for p in self.by_fd.values())
        self.metrics.subscribers.set(self.frame_subscribers)
