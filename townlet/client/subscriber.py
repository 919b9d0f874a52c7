"""``Subscriber``: rebuild a running town's frames from keyframes and deltas.

Connects with CURVE (client keypair file + the server's public key), waits for
a keyframe, applies deltas, and detects gaps (sequence jump, wrong base tick,
new publisher stream, undecodable message). After a gap the state is marked
unsynced, a ``Resync`` request goes upstream and the next keyframe restores it.
``live`` tells whether the publisher is still heard from: messages keep coming
(health at least every announced interval) and no end of stream arrived.
A malformed message never raises: it is counted in ``stats.bad_messages``, never
partly applied (a keyframe is checked whole before it replaces the state), and on
the frame topic it is a gap. Sizes are checked before anything is allocated, and
messages above ``max_message_bytes`` are refused by the socket (ZMQ_MAXMSGSIZE).
Needs only the frame schema and the wire format: no kernel, no publisher.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Self

import msgspec
import numpy as np
import zmq

from townlet.frames.schema import (
    EVENT_DTYPE,
    SCHEMA_VERSION,
    FrameSchema,
    SchemaError,
    events_table,
    frame_hash,
)
from townlet.wire.codec import Codec, WireError, apply_change, check_schema, column_from_full
from townlet.wire.messages import (
    TOPIC_FRAMES,
    TOPIC_HEALTH,
    Delta,
    End,
    Full,
    Health,
    Keyframe,
    Resync,
)

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "Subscriber", "SubscriberStats", "Update"]

DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
"""Largest message accepted by default (a keyframe of 1M agents is about 50 MiB)."""

_RESYNC_EVERY = 1.0
_HEALTH_SECONDS_UNANNOUNCED = 1.0
"""Health interval assumed until a health message announces the publisher's own."""


UpdateKind = Literal["key", "delta", "health", "skipped", "end"]


class Update(msgspec.Struct, frozen=True):
    """One received message, after it was applied."""

    kind: UpdateKind
    """``skipped``: a frame message that was not applied (waiting for a keyframe);
    ``end``: the publisher ended the stream (``end`` holds the message)."""
    seq: int
    tick: int
    nbytes: int
    lag_ticks: int
    """Newest tick in the publisher's ring minus this message's tick."""
    latency_ms: float
    """Publisher send time to receipt (same-host clocks)."""
    events: np.ndarray
    """Events of this tick and of ticks the publisher skipped (EVENT_DTYPE, by tick)."""
    health: Health | None = None
    end: End | None = None
    events_lost: int = 0
    """Events of skipped ticks the publisher could no longer read (see ``events``)."""


class SubscriberStats(msgspec.Struct):
    """Counters since the subscriber started."""

    keyframes: int = 0
    deltas: int = 0
    health: int = 0
    bytes: int = 0
    gaps: int = 0
    missed: int = 0
    """Frame messages known missing from sequence numbers."""
    resyncs_sent: int = 0
    bad_messages: int = 0
    ignored: int = 0
    """Frame messages dropped while waiting for a keyframe."""
    events_lost: int = 0
    """Events of skipped ticks the publisher reported it could no longer read."""


def _load_keys(server_key, client_key_file) -> tuple[bytes, bytes, bytes]:
    from townlet.security.keys import load_keypair, load_public_key

    if isinstance(server_key, (str, Path)) and Path(server_key).is_file():
        server = load_public_key(server_key)
    elif isinstance(server_key, (bytes, str)) and len(server_key) == 40:
        server = server_key.encode("ascii") if isinstance(server_key, str) else server_key
    else:
        raise ValueError("server_key must be the server's public key file or its 40-char Z85 key")
    kp = load_keypair(client_key_file)
    if kp.secret is None:
        raise ValueError(f"{client_key_file} holds no secret key (use the .key_secret file)")
    return server, kp.public, kp.secret


class Subscriber:
    """Subscribe to a publisher and keep the latest frame as read-only arrays.

    Parameters
    ----------
    endpoint
        Publisher endpoint, e.g. ``tcp://127.0.0.1:7710``; None for a detached subscriber
        that applies messages given to ``feed`` (no socket, no keys).
    server_key
        The server public key (path of ``server.key`` or the Z85 text).
    client_key_file
        Client keypair file from ``townlet keys issue`` (mode 0600).
    insecure_dev
        Connect without CURVE (only to a publisher started with ``--insecure-dev``).
    health
        Also receive health messages.
    stale_intervals
        ``live`` turns false when nothing arrived for this many health intervals.
    max_message_bytes
        A larger message ends the connection unread (libzmq does not retry after this
        protocol error; ``live`` turns false), and a schema whose columns would not fit
        in one message is refused before anything is allocated.

    ``recv`` raises only ``zmq.ZMQError`` (socket failures, e.g. after ``close``);
    ``frame_columns`` and ``frame_hash`` raise ``RuntimeError`` while not synchronised.
    """

    def __init__(self, endpoint: str | None, server_key: str | bytes | Path | None,
                 client_key_file: str | Path | None, *, insecure_dev: bool = False,
                 health: bool = True, rcvhwm: int = 64, stale_intervals: float = 3.0,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        if not stale_intervals > 0:
            raise ValueError(f"stale_intervals must be > 0, got {stale_intervals}")
        if max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be >= 1, got {max_message_bytes}")
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.XSUB)
        if endpoint is None:  # detached: messages arrive through ``feed`` (a recording)
            insecure_dev = True
        if not insecure_dev:
            if server_key is None or client_key_file is None:
                raise ValueError("server_key and client_key_file are required "
                                 "(or insecure_dev=True for a development publisher)")
            server, public, secret = _load_keys(server_key, client_key_file)
            self.sock.curve_serverkey = server
            self.sock.curve_publickey = public
            self.sock.curve_secretkey = secret
        self.sock.setsockopt(zmq.RCVHWM, rcvhwm)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        self.max_message_bytes = max_message_bytes
        self.detached = endpoint is None
        if endpoint is not None:
            self.sock.connect(endpoint)
            for topic in (TOPIC_FRAMES, TOPIC_HEALTH) if health else (TOPIC_FRAMES,):
                self.sock.send(b"\x01" + topic)
        self.codec = Codec()
        self.stats = SubscriberStats()
        self.schema: FrameSchema | None = None
        self.stream: str | None = None
        self.seq = 0
        self.tick = -1
        self.synced = False
        self.last_health: Health | None = None
        self.ended: End | None = None
        """The end-of-stream message, once the publisher stopped (None again when a new
        stream starts)."""
        self.stale_intervals = stale_intervals
        self._last_recv = time.monotonic()
        self._arrays: dict[str, np.ndarray] = {}
        self._before: dict[str, np.ndarray] = {}
        """Columns the last applied delta changed, as they were before it (Repeat's base)."""
        self._events: dict[str, np.ndarray] = {}
        self.state: Mapping[str, np.ndarray] = MappingProxyType({})
        self._last_resync = 0.0
        self.last_payload = b""
        """The last message exactly as received (what a recorder stores)."""

    # ----------------------------------------------------------------- API
    def recv(self, timeout: float | None = None) -> Update | None:
        """Next message (applied), or None if nothing arrived within ``timeout`` seconds."""
        if timeout is not None and not self.sock.poll(int(timeout * 1000)):
            return None
        topic, payload = self._recv_parts()
        return self.feed(topic, payload)

    def feed(self, topic: bytes, payload: bytes) -> Update:
        """Apply one message received elsewhere (e.g. read from a recording): what
        ``recv`` does with each message it reads."""
        self.last_payload = payload
        t_recv = time.time_ns()
        self._last_recv = time.monotonic()
        self.stats.bytes += len(payload)
        try:
            msg = self.codec.decode(payload)
        except WireError:
            return self._bad(topic, len(payload))
        if topic != (TOPIC_HEALTH if isinstance(msg, Health) else TOPIC_FRAMES):
            return self._bad(topic, len(payload))  # a message on the wrong topic: never applied
        if isinstance(msg, End):
            return self._on_end(msg, len(payload), t_recv)
        self.ended = None
        if isinstance(msg, Health):
            self.stats.health += 1
            self.last_health = msg
            self._check_tail(msg)
            return Update("health", msg.seq, msg.last_tick, len(payload),
                          max(0, msg.head_tick - msg.last_tick), (t_recv - msg.sent_ns) / 1e6,
                          np.empty(0, EVENT_DTYPE), msg)
        try:
            applied = self._apply(msg)
        except (WireError, SchemaError):
            return self._bad(topic, len(payload))
        kind: UpdateKind = (("key" if isinstance(msg, Keyframe) else "delta") if applied
                            else "skipped")
        events = self._message_events(msg) if applied else np.empty(0, EVENT_DTYPE)
        lost = msg.events_lost if applied else 0
        self.stats.events_lost += lost
        return Update(kind, msg.seq, msg.tick, len(payload), max(0, msg.head_tick - msg.tick),
                      (t_recv - msg.sent_ns) / 1e6, events, events_lost=lost)

    @property
    def live(self) -> bool:
        """True unless the stream ended or nothing was received for ``stale_intervals``
        health intervals (as announced by the publisher's health messages)."""
        if self.ended is not None:
            return False
        h = self.last_health
        interval = h.health_seconds if h is not None and h.health_seconds > 0 \
            else _HEALTH_SECONDS_UNANNOUNCED
        return time.monotonic() - self._last_recv < self.stale_intervals * interval

    def __iter__(self) -> Iterator[Update]:
        """Every message as it arrives (blocks)."""
        while True:
            up = self.recv()
            if up is not None:  # never None without a timeout
                yield up

    def frame_columns(self) -> dict[str, np.ndarray]:
        """Copies of the current frame's columns (meta, state and this tick's events)."""
        if not self.synced:
            raise RuntimeError("not synchronised: no keyframe applied since the last gap")
        return {k: v.copy() for k, v in {**self._arrays, **self._events}.items()}

    def frame_hash(self) -> str:
        """``frame_hash`` of the current frame (equals the simulation's for the same tick)."""
        if not self.synced or self.schema is None:
            raise RuntimeError("not synchronised: no keyframe applied since the last gap")
        return frame_hash({**self._arrays, **self._events}, self.schema)

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- internals
    def _recv_parts(self) -> tuple[bytes, bytes]:
        parts = self.sock.recv_multipart()
        if len(parts) != 2:
            return b"", b""
        return parts[0], parts[1]

    def _bad(self, topic: bytes, nbytes: int) -> Update:
        self.stats.bad_messages += 1
        if topic != TOPIC_HEALTH:
            self._lose_sync(1)
        return Update("skipped", 0, self.tick, nbytes, 0, 0.0, np.empty(0, EVENT_DTYPE))

    def _on_end(self, msg: End, nbytes: int, t_recv: int) -> Update:
        """The stream ended: note a lost tail, stop being live until a new stream starts."""
        if msg.stream == self.stream and self.synced and msg.last_seq > self.seq:
            self.stats.gaps += 1
            self.stats.missed += msg.last_seq - self.seq
        self.ended = msg  # the state stays readable: it is the stream's last frame
        return Update("end", msg.last_seq, msg.last_tick, nbytes, 0,
                      (t_recv - msg.sent_ns) / 1e6, np.empty(0, EVENT_DTYPE), end=msg)

    def _check_tail(self, health: Health) -> None:
        """Health follows the frame messages it counts on the same socket, so a health
        message announcing a later frame than ours means the tail was dropped."""
        if health.stream == self.stream and self.synced and health.last_seq > self.seq:
            self._lose_sync(health.last_seq - self.seq)
        elif not self.synced and health.last_seq > 0:
            self._request_resync(0)

    def _lose_sync(self, missed: int) -> None:
        self.stats.gaps += 1
        self.stats.missed += max(0, missed)
        self.synced = False
        self._request_resync(missed)

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe now (rate-limited like resync requests)."""
        self._request_resync(0)

    def _request_resync(self, missed: int, want_keyframe: bool = True) -> None:
        if self.detached:
            return
        now = time.monotonic()
        if want_keyframe and now - self._last_resync < _RESYNC_EVERY:
            return
        if want_keyframe:
            self._last_resync = now
        req = Resync(stream=self.stream or "", last_seq=self.seq, missed=max(0, missed),
                     want_keyframe=want_keyframe)
        try:
            self.sock.send(self.codec.encode(req), zmq.NOBLOCK)
            self.stats.resyncs_sent += 1
        except zmq.Again:
            pass

    def _apply(self, msg: Keyframe | Delta) -> bool:
        if msg.v.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise WireError(f"incompatible schema version {msg.v!r}")
        if isinstance(msg, Keyframe):
            if self.synced and msg.stream == self.stream and msg.seq > self.seq + 1:
                missed = msg.seq - self.seq - 1  # a gap that ends at a keyframe: report only
                self.stats.gaps += 1
                self.stats.missed += missed
                self._request_resync(missed, want_keyframe=False)
            self._apply_keyframe(msg)
            return True
        if not self.synced:
            self.stats.ignored += 1
            self._request_resync(0)
            return False
        if msg.stream != self.stream or msg.seq != self.seq + 1 or msg.base_tick != self.tick:
            same = msg.stream == self.stream
            self._lose_sync(msg.seq - self.seq - 1 if same else 0)
            self.stats.ignored += 1
            return False
        before, self._before = self._before, {}
        try:
            for change in msg.changes:
                arr = self._arrays.get(change.c)
                if arr is None:
                    raise WireError(f"delta changes unknown column {change.c!r}")
                self._before[change.c] = arr.copy()
                apply_change(arr, change, before.get(change.c))
            self._set_events(msg.events)
        except WireError:
            self._before = {}
            self._lose_sync(0)
            raise
        self.seq, self.tick = msg.seq, msg.tick
        self.stats.deltas += 1
        return True

    def _apply_keyframe(self, msg: Keyframe) -> None:
        """Check the whole keyframe, then replace the state (never half of it)."""
        schema = self.schema
        if schema is None or schema.hash.hex() != msg.schema_hash:
            check_schema(msg.schema, self.max_message_bytes)
            schema = FrameSchema(msg.schema)
            if schema.hash.hex() != msg.schema_hash:
                raise WireError("keyframe schema does not match its schema_hash")
        cols = {f.c: f for f in msg.columns}
        if set(cols) != {c.name for c in schema.columns}:
            raise WireError("keyframe columns differ from its schema")
        new = {c.name: column_from_full(cols[c.name], c.dtype, c.shape) for c in schema.columns}
        events = self._event_columns(schema, msg.events, new["n_events"])
        if schema is not self.schema:
            self.schema = schema
            self._arrays = {name: a.copy() for name, a in new.items()}
            self.state = MappingProxyType({k: _readonly(v) for k, v in self._arrays.items()})
        else:
            for name, a in new.items():
                self._arrays[name][...] = a
        self._events = events
        self._before = {}  # a keyframe is no change: nothing repeats after it
        self.stream, self.seq, self.tick = msg.stream, msg.seq, msg.tick
        self.synced = True
        self.stats.keyframes += 1

    def _set_events(self, events: list[Full]) -> None:
        assert self.schema is not None  # a keyframe set it before any events are applied
        self._events = self._event_columns(self.schema, events, self._arrays["n_events"])

    @staticmethod
    def _event_columns(schema: FrameSchema, events: list[Full],
                       n_events: np.ndarray) -> dict[str, np.ndarray]:
        """The event columns of a message, checked against ``n_events`` rows."""
        n = int(n_events[0])
        got = {f.c: f for f in events}
        out = {}
        for e in schema.events:
            if e.name not in got:
                raise WireError(f"event column {e.name!r} missing")
            out[e.name] = column_from_full(got[e.name], e.dtype, (n,))
        return out

    def _message_events(self, msg: Keyframe | Delta) -> np.ndarray:
        assert self.schema is not None  # only applied messages get here
        tables = []
        for sk in msg.skipped:
            try:
                cols = {e.name: np.frombuffer(f.data, e.dtype)
                        for e, f in zip(self.schema.events, sk.events, strict=True)}
                if len({len(v) for v in cols.values()}) != 1:
                    raise ValueError("ragged skipped events")
            except ValueError:
                self.stats.bad_messages += 1
                continue
            tables.append(events_table(cols, sk.tick))
        tables.append(events_table(self._events, msg.tick))
        out = np.concatenate(tables) if len(tables) > 1 else tables[0]
        out.flags.writeable = False
        return out

    @property
    def config_id(self) -> str | None:
        """The simulation's config id (from the frame), once synchronised."""
        if "config_id" not in self._arrays:
            return None
        return bytes(self._arrays["config_id"][0]).rstrip(b"\0").decode("ascii", "replace")


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v
