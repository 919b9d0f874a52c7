"""The publisher process: newest frame from the ring -> keyframe or delta -> XPUB.

It wakes on a doorbell from the simulation (or every ``poll_ms`` regardless, as
doorbells may be dropped), always skips to the newest frame, diffs it against
the last frame it shipped and sends one message. Keyframes go out every
``keyframe_interval`` ticks, when a subscriber joins and when one reports a
gap. It never writes to the ring, so the simulation never waits for it; while nobody
subscribes to frames it reads nothing at all. What each connection subscribed to, and
may report or request, is tracked per connection (``townlet.publish.peers``).
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from typing import Any

import msgspec
import numpy as np
import structlog
import zmq

from townlet.config.telemetry import PublisherSettings, publisher_settings
from townlet.frames.reader import FrameReader
from townlet.frames.ring import LappedRead, NotPublished, TornRead
from townlet.ops.http import ProbeServer
from townlet.ops.logging import set_log_context
from townlet.publish.diff import Differ
from townlet.publish.metrics import PublisherMetrics
from townlet.publish.peers import Peers
from townlet.publish.sockets import PublisherSocket
from townlet.wire.codec import Codec
from townlet.wire.messages import (
    SCHEMA_VERSION,
    TOPIC_FRAMES,
    TOPIC_HEALTH,
    Delta,
    End,
    Full,
    Health,
    Keyframe,
    SkippedEvents,
)

__all__ = ["Publisher", "PublisherKeys"]

_log = structlog.get_logger("townlet.publish")
END_LINGER_MS = 1000
"""How long a clean stop waits for queued messages (the end of stream) to leave."""
LIVE_AFTER_S = 5.0
"""``/livez`` fails when the serving loop has not turned for this long (plus ``poll_ms``)."""


class PublisherKeys(msgspec.Struct, frozen=True, kw_only=True):
    """Where the publisher's CURVE keys come from (unused with ``insecure_dev``)."""

    key_dir: str | None = None
    """Key directory (`townlet keys init`): server.key_secret and registry.json."""
    server_key: str | None = None
    """Server secret key file (overrides ``key_dir``)."""
    registry: str | None = None
    """Key registry file (overrides ``key_dir``)."""


class Publisher:
    """One publisher run over one ring; ``run()`` returns when the writer is gone.

    ``ring`` names the segment, ``opts`` are the validated PublisherSettings,
    ``doorbell`` the nng address to listen on for doorbells (``ipc://...``),
    ``restarts`` how often the simulation restarted its publisher before this one.
    """

    def __init__(self, ring: str, opts: PublisherSettings, *, doorbell: str | None = None,
                 keys: PublisherKeys | None = None, restarts: int = 0) -> None:
        self.opts = publisher_settings(opts)  # ValueError on out-of-range values
        self.ring_name = ring
        self.doorbell = doorbell
        self.keys = keys if keys is not None else PublisherKeys()
        self.restarts = restarts
        self.reader = FrameReader(ring)
        self.schema = self.reader.schema
        self.differ = Differ(self.schema)
        self.codec = Codec()
        self.metrics = PublisherMetrics()
        self.metrics.restarts.set(restarts)
        self.stream = secrets.token_hex(8)
        self.schema_hash = self.schema.hash.hex()
        # three frames in turn: the last shipped (base), the one before it (Repeat's base,
        # kept rather than copied column by column) and the one being read
        self._bufs = [bytearray(self.schema.capacity) for _ in range(3)]
        self._base: bytearray | None = None  # the last frame shipped
        self._prior: bytearray | None = None  # the frame shipped before the base
        self._base_tick = -1
        self._base_frame = 0
        self._base_ev_end = 0  # event-log head recorded with the last frame shipped
        self._key_tick = -1
        self._key_pending = False
        self._last_forced = 0.0
        self.seq = 0
        self.health_seq = 0
        self._stop = False
        self._ended = False
        self._dropped = 0
        self._bytes = 0
        self._frames_read = 0
        self._probe = bytearray(8)
        self._sent = {"key": 0, "delta": 0}
        self.metrics_port = 0
        self.sock: PublisherSocket  # start() binds it; close() closes it if it did
        self.peers: Peers
        self._bound = False
        self._bell: Any = None  # pynng.Pull0 once started with a doorbell
        self._http: ProbeServer | None = None
        self._loop_at = time.monotonic()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the metrics exporter, the authenticated socket and the doorbell."""
        o = self.opts
        if o.nice:
            os.nice(o.nice)  # on a busy machine the simulation's tick comes first
        set_log_context(tick=lambda: self._base_tick if self._base_tick >= 0 else None)
        if o.metrics_port:
            self._http = ProbeServer(self.metrics.registry, host=o.metrics_host,
                                     port=o.metrics_port, live=self._live, ready=self._ready)
            self.metrics_port = self._http.start()
        k = self.keys
        self.sock = PublisherSocket(o.endpoint, key_dir=k.key_dir, server_key=k.server_key,
                                    registry=k.registry, insecure_dev=o.insecure_dev, hwm=o.hwm)
        self._bound = True
        self.peers = Peers(self.sock.sock, self.sock.monitor, self.metrics, self.stream,
                           key_status=self.sock.auth.status if self.sock.auth else None)
        self.poller = zmq.Poller()
        self.poller.register(self.sock.sock, zmq.POLLIN)
        self.poller.register(self.sock.monitor, zmq.POLLIN)
        if self.doorbell is not None:
            import pynng

            self._bell = pynng.Pull0(recv_buffer_size=256)
            self._bell.listen(self.doorbell)
            self._try_again = pynng.TryAgain
            self.poller.register(self._bell.recv_fd, zmq.POLLIN)
        _log.info("publisher_started", ring=self.ring_name, endpoint=self.sock.endpoint,
                  secure=self.sock.secure, stream=self.stream, metrics_port=self.metrics_port,
                  schema_hash=self.schema_hash[:16])

    def stop(self, *_: object) -> None:
        """Ask ``run`` to return after the current iteration (signal-safe)."""
        self._stop = True

    def _live(self) -> tuple[bool, str]:
        """Live while the serving loop turns (it wakes at least every ``poll_ms``)."""
        age = time.monotonic() - self._loop_at
        return age < LIVE_AFTER_S + self.opts.poll_ms / 1000, f"loop {age:.1f}s ago"

    def _ready(self) -> tuple[bool, str]:
        """Ready while bound and serving (not stopping)."""
        ok = self._bound and not self._stop and not self._ended
        return ok, f"serving {self.sock.endpoint}" if ok else "not serving"

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._bell is not None:
            self._bell.close()
        if self._bound:
            self.sock.close(linger_ms=END_LINGER_MS if self._ended else 0)
        self.reader.close()

    def run(self) -> None:
        """Serve until the writer closes the ring or exits, or ``stop()`` is called."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        next_health = time.monotonic()
        next_alive_check = time.monotonic()
        done = False
        while not self._stop and not done:
            now = self._loop_at = time.monotonic()
            wait = min(self.opts.poll_ms, max(0.0, (next_health - now) * 1000))
            ready = dict(self.poller.poll(int(wait)))
            if self.sock.sock in ready:
                self._key_pending |= self.peers.drain(self.seq)
            if self.sock.monitor in ready:
                self.peers.drain_monitor()
            self.peers.check_keys()
            if self._bell is not None and self._bell.recv_fd in ready:
                self._drain_doorbells()
            closing = self.reader.closed
            now = time.monotonic()
            if now >= next_alive_check:
                closing = closing or not self.reader.writer_alive()
                next_alive_check = now + 0.5
            self._ship()
            if now >= next_health:
                self._send_health()
                next_health = now + self.opts.health_seconds
            done = closing and self.reader.latest() == self._base_frame
        reason = "writer_done" if done else "signal"
        self._send_health()
        self._send_end(reason)
        _log.info("publisher_stopped", reason=reason, last_tick=self._base_tick, seq=self.seq)

    # ----------------------------------------------------------------- inputs
    def _drain_doorbells(self) -> None:
        while True:
            try:
                self._bell.recv(block=False)
            except self._try_again:
                return
            self.metrics.doorbells.inc()

    # ---------------------------------------------------------------- shipping
    def _ship(self) -> None:
        latest = self.reader.latest()
        self.metrics.backlog.set(max(0, latest - self._base_frame))
        if self.peers.frame_subscribers == 0 and not self._key_pending:
            # Nobody to ship to: leave the CPU to the simulation; the next subscriber
            # gets a keyframe of the then-newest frame.
            self._base, self._base_frame = None, latest
            return
        if latest > self._base_frame or (self._base is None and latest and self._key_pending):
            self._ship_newest(latest)
        elif self._key_pending and self._base is not None and self._may_force():
            self._send(self._keyframe(self._base, self._base_tick, latest, [], 0))

    def _may_force(self) -> bool:
        return time.monotonic() - self._last_forced >= self.opts.keyframe_min_seconds

    def _ship_newest(self, latest: int) -> None:
        t0 = time.perf_counter()
        cur = next(b for b in self._bufs if b is not self._base and b is not self._prior)
        for _ in range(64):
            try:
                tick, _ = self.reader.read_into(latest, cur)
                break
            except TornRead:
                self.metrics.torn.inc()
            except LappedRead:
                self.metrics.lapped.inc()
            latest = self.reader.latest()
        else:
            return
        ev_end = self.reader.last_events_end  # before any other read replaces it
        self.metrics.frames_read.inc()
        self._frames_read += 1
        skipped, lost = self._skipped_events(ev_end - self._n_events(cur))
        if self._base is not None:
            self.metrics.frames_skipped.inc(max(0, latest - self._base_frame - 1))
        force = self._key_pending and self._may_force()
        msg: Keyframe | Delta
        if self._base is None or force or tick - self._key_tick >= self.opts.keyframe_interval:
            msg = self._keyframe(cur, tick, latest, skipped, lost)
        else:
            msg = Delta(v=SCHEMA_VERSION, stream=self.stream, seq=self.seq + 1, tick=tick,
                        head_tick=self._head_tick(tick), sent_ns=time.time_ns(),
                        schema_hash=self.schema_hash, base_tick=self._base_tick,
                        changes=self.differ.changes(self._base, cur, self._prior),
                        events=self.differ.event_columns(cur, self._n_events(cur)),
                        skipped=skipped, events_lost=lost)
        self._send(msg, t0)
        self._prior, self._base, self._base_tick, self._base_frame = self._base, cur, tick, latest
        self._base_ev_end = ev_end
        self.metrics.lag_ticks.set(max(0, msg.head_tick - tick))

    def _n_events(self, buf: bytearray) -> int:
        off = self.schema.by_name["n_events"].offset
        return int(np.frombuffer(buf, dtype="<i4", count=1, offset=off)[0])

    def _head_tick(self, fallback: int) -> int:
        """Tick of the newest frame in the ring (a zero-length, validated read)."""
        latest = self.reader.latest()
        if latest == 0:
            return fallback
        try:
            tick, _ = self.reader.read_into(latest, self._probe, 0, 0)
            return tick
        except (TornRead, LappedRead, NotPublished):
            return fallback

    def _keyframe(self, buf: bytearray, tick: int, frame: int, skipped: list[SkippedEvents],
                  lost: int) -> Keyframe:
        if self._key_pending and self._may_force():
            self._key_pending = False
            self._last_forced = time.monotonic()
        self._key_tick = tick
        return Keyframe(v=SCHEMA_VERSION, stream=self.stream, seq=self.seq + 1, tick=tick,
                        head_tick=self._head_tick(tick), sent_ns=time.time_ns(),
                        schema_hash=self.schema_hash, schema=self.schema.doc,
                        columns=self.differ.keyframe_columns(buf),
                        events=self.differ.event_columns(buf, self._n_events(buf)),
                        skipped=skipped, events_lost=lost)

    def _skipped_events(self, stop: int) -> tuple[list[SkippedEvents], int]:
        """Events of the ticks between the last frame shipped and the one being shipped
        (event-log records up to ``stop``, where that frame's own events begin), grouped
        by tick; and how many of them were overwritten before they could be read."""
        if self._base is None or stop <= self._base_ev_end:
            return [], 0
        records, lost = self.reader.read_events(self._base_ev_end, stop)
        out = []
        if len(records):
            cuts = np.flatnonzero(np.diff(records["tick"])) + 1
            for part in np.split(records, cuts):
                out.append(SkippedEvents(int(part["tick"][0]), [
                    Full(e.name, np.ascontiguousarray(part[e.name]).tobytes())
                    for e in self.schema.events]))
        if lost:
            self.metrics.events_lost.inc(lost)
        return out, lost

    def _send(self, msg: Keyframe | Delta, t0: float | None = None) -> None:
        t0 = time.perf_counter() if t0 is None else t0
        payload = self.codec.encode(msg)
        self.metrics.encode_seconds.observe(time.perf_counter() - t0)
        self.seq = msg.seq
        kind = "key" if isinstance(msg, Keyframe) else "delta"
        try:
            self.sock.sock.send_multipart([TOPIC_FRAMES, payload], flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:  # lossy XPUB drops per subscriber instead; kept for safety
            self._dropped += 1
            self.metrics.dropped.inc()
            return
        self._sent[kind] += 1
        self._bytes += len(payload)
        (self.metrics.keyframes if kind == "key" else self.metrics.deltas).inc()
        self.metrics.bytes_sent.labels(kind).inc(len(payload))

    def _send_health(self) -> None:
        self.health_seq += 1
        msg = Health(v=SCHEMA_VERSION, stream=self.stream, seq=self.health_seq,
                     sent_ns=time.time_ns(), head_tick=self._head_tick(self._base_tick),
                     last_tick=self._base_tick, writer_alive=self.reader.writer_alive(),
                     frames_read=self._frames_read,
                     keyframes_sent=self._sent["key"], deltas_sent=self._sent["delta"],
                     bytes_sent=self._bytes, dropped_reported=self._dropped + self.peers.dropped,
                     torn_reads=self.reader.torn_reads, subscribers=self.peers.frame_subscribers,
                     handshake_failures=self.peers.handshake_failures, last_seq=self.seq,
                     health_seconds=self.opts.health_seconds, restarts=self.restarts)
        payload = self.codec.encode(msg)
        try:
            self.sock.sock.send_multipart([TOPIC_HEALTH, payload], flags=zmq.NOBLOCK)
        except zmq.Again:
            return
        self.metrics.health.inc()
        self.metrics.bytes_sent.labels("health").inc(len(payload))

    def _send_end(self, reason: str) -> None:
        """Tell subscribers the stream ends here (``close`` lingers so it gets out)."""
        msg = End(v=SCHEMA_VERSION, stream=self.stream, sent_ns=time.time_ns(),
                  last_seq=self.seq, last_tick=self._base_tick, reason=reason)
        try:
            self.sock.sock.send_multipart([TOPIC_FRAMES, self.codec.encode(msg)],
                                          flags=zmq.NOBLOCK)
        except zmq.Again:
            return
        self._ended = True
