"""The frame feed: a thread that follows the publisher and hands the UI the newest frame.

It owns the :class:`~townlet.client.Subscriber` and applies every message as it
arrives (deltas must all be applied to stay in sync), then, only when the UI took
the previous frame, copies the newest state into a read-only :class:`Frame` with its
digest. A UI slower than the stream therefore skips to the newest state instead of
queueing frames: it never falls behind. The thread also keeps what needs every tick
(the followed agent's needs, recent events, events by hour), reconnects with
exponential backoff after the publisher went silent, and reports refused handshakes
from the socket's monitor.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from townlet.client.subscriber import Subscriber, Update
from townlet.frames.schema import EVENT_DTYPE
from townlet.ui.frame import Frame, digest, freeze
from townlet.ui.vocab import Names
from townlet.wire.messages import Health

__all__ = ["HISTORY_TICKS", "RECENT_EVENTS", "FeedStatus", "FrameFeed"]

HISTORY_TICKS = 240
"""Ticks of the followed agent's needs kept for its sparklines."""
RECENT_EVENTS = 400
"""Newest events kept for the event panels."""
_POLL = 0.05
_MONITORED = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
              | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)


@dataclass(frozen=True)
class FeedStatus:
    """Connection facts for the header and the health panel (a snapshot, never live)."""

    state: str
    """``connecting``, ``live``, ``stale`` (silent for a few health intervals), ``ended``
    (the publisher stopped cleanly), ``refused`` (handshake refused: key unknown, expired or
    revoked) or ``failed`` (handshake failed: wrong server key)."""
    silent_s: float
    """Seconds since the last message of any kind."""
    tick: int = -1
    """Tick of the newest frame message applied."""
    lag_ticks: int = 0
    latency_ms: float = 0.0
    health: Health | None = None
    applied: int = 0
    """Frame messages applied."""
    shown: int = 0
    """Frames handed to the UI (the rest were skipped to stay current)."""
    reconnects: int = 0
    gaps: int = 0
    resyncs: int = 0
    bad_messages: int = 0
    events_lost: int = 0


@dataclass
class _Track:
    """What the feed keeps per tick for the UI (touched only by the feed thread)."""

    follow: int = -1
    needs: deque = field(default_factory=lambda: deque(maxlen=HISTORY_TICKS))
    events: deque = field(default_factory=lambda: deque(maxlen=64))
    """Arrays of recent events (EVENT_DTYPE), newest last."""
    mine: deque = field(default_factory=lambda: deque(maxlen=64))
    """Arrays of the followed agent's events (as subject or other), newest last."""
    by_hour: np.ndarray = field(default_factory=lambda: np.zeros(24, np.int64))
    schema_hash: bytes = b""
    names: Names = field(default_factory=Names)
    """The vocabulary of the schema with ``schema_hash``."""


class FrameFeed:
    """Follow a publisher on a background thread; ``take()`` the newest frame.

    ``notify`` is called (from the feed thread) whenever a new frame or status is
    ready; the UI then calls :meth:`take` and :meth:`status` on its own thread.
    """

    def __init__(self, endpoint: str, server_key: str | Path | None,
                 client_key: str | Path | None, *, insecure_dev: bool = False,
                 notify: Callable[[], None] = lambda: None, backoff: float = 0.5,
                 backoff_max: float = 8.0, stale_intervals: float = 3.0) -> None:
        self.endpoint = endpoint
        self._keys = (server_key, client_key)
        self._insecure = insecure_dev
        self._notify = notify
        self._backoff0, self._backoff_max = backoff, backoff_max
        self._stale_intervals = stale_intervals
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._latest: Frame | None = None
        self._taken = True
        self._status = FeedStatus("connecting", 0.0)
        self._track = _Track()
        self._follow = -1
        self._history: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64),
                                                         np.zeros((0, 4), np.float32))
        self._events = self._mine = np.zeros(0, EVENT_DTYPE)
        self._by_hour = np.zeros(24, np.int64)
        self._thread = threading.Thread(target=self._run, name="townlet-ui-feed", daemon=True)

    # ----------------------------------------------------------------- UI side
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def take(self) -> Frame | None:
        """The newest frame not yet taken (None if nothing new)."""
        with self._lock:
            if self._taken:
                return None
            self._taken = True
            return self._latest

    def status(self) -> FeedStatus:
        with self._lock:
            return self._status

    def follow(self, agent: int) -> None:
        """Keep the needs history and events of ``agent`` (-1: nobody)."""
        with self._lock:
            self._follow = agent

    def history(self) -> tuple[np.ndarray, np.ndarray]:
        """(ticks, needs rows) of the followed agent, oldest first."""
        with self._lock:
            return self._history

    def recent_events(self) -> np.ndarray:
        """The newest events (EVENT_DTYPE, oldest first; read-only)."""
        with self._lock:
            return self._events

    def agent_events(self) -> np.ndarray:
        """The followed agent's newest events (EVENT_DTYPE, oldest first; read-only)."""
        with self._lock:
            return self._mine

    def events_by_hour(self) -> np.ndarray:
        """Events received per clock hour of the day since the dashboard started."""
        with self._lock:
            return self._by_hour

    # -------------------------------------------------------------- the thread
    def _connect(self) -> tuple[Subscriber, zmq.Socket]:
        server, client = self._keys
        sub = Subscriber(self.endpoint, server, client, insecure_dev=self._insecure,
                         stale_intervals=self._stale_intervals)
        return sub, sub.sock.get_monitor_socket(_MONITORED)

    def _run(self) -> None:
        backoff = self._backoff0
        reconnects = 0
        while not self._stop.is_set():
            sub, mon = self._connect()
            try:
                heard = self._follow_until_silent(sub, mon, reconnects)
            finally:
                sub.sock.disable_monitor()
                mon.close(0)
                sub.close()
            if self._stop.is_set():
                return
            backoff = self._backoff0 if heard else min(backoff * 2, self._backoff_max)
            reconnects += 1
            self._stop.wait(backoff)

    def _follow_until_silent(self, sub: Subscriber, mon: zmq.Socket, reconnects: int) -> bool:
        """Apply messages until the stream has been silent for twice the stale time;
        True if anything was heard on this connection."""
        state, heard, last = "connecting", False, time.monotonic()
        lag, latency, sent_ns = 0, 0.0, 0
        applied = self._status.applied
        shown = self._status.shown
        while not self._stop.is_set():
            state = self._monitor(mon, state)
            up = sub.recv(_POLL)
            while up is not None:
                heard, last = True, time.monotonic()
                if up.kind in ("key", "delta"):
                    applied += 1
                    lag, latency = up.lag_ticks, up.latency_ms
                    sent_ns = time.time_ns() - int(up.latency_ms * 1e6)
                    self._observe(sub, up)
                elif up.kind == "health":
                    lag = up.lag_ticks
                up = sub.recv(0) if sub.sock.poll(0) else None  # skip to the newest message
            silent = time.monotonic() - last
            if sub.ended is not None:
                state = "ended"
            elif heard:
                state = "live" if sub.live else "stale"
            fresh = self._publish_frame(sub, last, sent_ns) if sub.synced else False
            shown += fresh
            st = sub.stats
            status = FeedStatus(state, silent, sub.tick, lag, latency, sub.last_health, applied,
                                shown,
                                reconnects, st.gaps, st.resyncs_sent, st.bad_messages,
                                st.events_lost)
            with self._lock:
                changed = fresh or status.state != self._status.state \
                    or int(status.silent_s) != int(self._status.silent_s)
                self._status = status
            if changed:
                self._notify()
            interval = (sub.last_health.health_seconds if sub.last_health is not None
                        and sub.last_health.health_seconds > 0 else 1.0)
            if state not in ("refused", "failed") and silent > 2 * self._stale_intervals * interval:
                return heard
        return heard

    @staticmethod
    def _monitor(mon: zmq.Socket, state: str) -> str:
        while mon.poll(0):
            ev = recv_monitor_message(mon)["event"]
            if ev == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                state = "refused"
            elif ev & (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                state = "failed"
            elif ev == zmq.EVENT_HANDSHAKE_SUCCEEDED and state in ("refused", "failed"):
                state = "connecting"
        return state

    def _observe(self, sub: Subscriber, up: Update) -> None:
        """Per-tick bookkeeping on every applied frame message (cheap, vectorised)."""
        tr = self._track
        with self._lock:
            follow = self._follow
        if follow != tr.follow:
            tr.follow = follow
            tr.needs.clear()
            tr.mine.clear()
        tpd = int(sub.state["ticks_per_day"][0])
        ev = up.events
        if ev.size:
            hours = (ev["tick"].astype(np.int64) % tpd) * 24 // max(1, tpd)
            tr.by_hour += np.bincount(hours, minlength=24)[:24]
            tr.events.append(ev)
            if follow >= 0:
                hit = ev[(ev["agent"] == follow) | (ev["other"] == follow)]
                if hit.size:
                    tr.mine.append(hit)
        alive = sub.state["agent_alive"]
        if 0 <= follow < alive.size and alive[follow]:
            tr.needs.append((up.tick, sub.state["agent_needs"][follow].copy()))

    def _publish_frame(self, sub: Subscriber, received: float, sent_ns: int) -> bool:
        """Copy the newest state for the UI if it took the previous frame."""
        with self._lock:
            if not self._taken or (self._latest is not None and self._latest.tick == sub.tick):
                return False
        cols = freeze(sub.frame_columns())
        schema = sub.schema
        if schema is not None and schema.hash != self._track.schema_hash:
            self._track.schema_hash, self._track.names = schema.hash, Names(schema.doc.vocab)
        names = self._track.names
        frame = Frame(cols, digest(cols, names), received, sent_ns, names)
        tr = self._track
        ticks = np.array([t for t, _ in tr.needs], np.int64)
        rows = (np.stack([n for _, n in tr.needs]) if tr.needs
                else np.zeros((0, cols["agent_needs"].shape[1]), np.float32))
        events, mine = _joined(tr.events), _joined(tr.mine)
        by_hour = tr.by_hour.copy()
        for a in (ticks, rows, by_hour):
            a.flags.writeable = False
        with self._lock:
            self._latest, self._taken = frame, False
            self._history, self._events, self._by_hour = (ticks, rows), events, by_hour
            self._mine = mine
        return True


def _joined(parts: deque) -> np.ndarray:
    """The newest RECENT_EVENTS rows of a deque of event arrays, read-only."""
    out = np.concatenate(list(parts))[-RECENT_EVENTS:] if parts else np.zeros(0, EVENT_DTYPE)
    out.flags.writeable = False
    return out
