"""``replay``: serve a recording through a real publisher.

The recorded messages are applied in order by a detached
:class:`~townlet.client.subscriber.Subscriber` (the same code a live subscriber
runs, so a recording that does not apply is refused with the file and sequence
number); each rebuilt frame is written into a fresh shared-memory ring, and a
`townlet publish` child serves that ring exactly as it serves a simulation:
CURVE, keyframes on join, health, metrics. Dashboards and subscribers cannot
tell a replay from a live town except by the stream id. Known limit: events of
ticks the original publisher skipped (shipped as ``skipped``) are not replayed.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from townlet.client.subscriber import Subscriber
from townlet.config.telemetry import TelemetryConfig
from townlet.frames.schema import (
    EVENT_COLUMNS,
    EVENT_COUNT_DTYPE,
    EVENT_COUNT_SECTION,
    FrameSchema,
)
from townlet.frames.writer import FrameRing
from townlet.publish.spawn import spawn_publisher, wait_ready
from townlet.record.format import read_rows
from townlet.wire.messages import TOPIC_FRAMES

__all__ = ["ReplayError", "replay"]


class ReplayError(ValueError):
    """A recording that cannot be replayed (names the file and the message)."""


class _Sections:
    """World-named sections of the subscriber's current frame, for ``FrameRing.publish``."""

    def __init__(self, schema: FrameSchema) -> None:
        self.events = {sec: np.zeros(spec.shape, spec.dtype)
                       for (_, sec), spec in zip(EVENT_COLUMNS, schema.events, strict=True)}
        self.count = np.zeros(1, EVENT_COUNT_DTYPE)

    def of(self, sub: Subscriber) -> dict[str, np.ndarray]:
        cols = sub.frame_columns()
        n = int(cols["n_events"][0])
        self.count[0] = n
        for col, sec in EVENT_COLUMNS:
            self.events[sec][:n] = cols[col][:n]
        return {**sub.state, **self.events, EVENT_COUNT_SECTION: self.count}


def _subscribers(host: str, port: int) -> float:
    """``townlet_publish_subscribers`` from the publisher's exporter."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("townlet_publish_subscribers "):
                return float(line.split()[1])
    return 0.0


def replay(files: Iterable[Path], settings: TelemetryConfig, key_dir: str, *, tps: float,
           wait_for: int = 0, on_ready: Callable[[dict], None] | None = None,
           wait_timeout: float = 300.0) -> dict:
    """Publish every frame of ``files`` (in order) at ``tps`` ticks/s (0: as fast as the
    ring takes them); returns counts. ``wait_for`` subscribers are awaited (through the
    publisher's metrics endpoint) before the first frame."""
    sub = Subscriber(None, None, None)
    ring: FrameRing | None = None
    proc = None
    frames, first, last = 0, None, None
    try:
        for path in files:
            for row in read_rows(path):
                up = sub.feed(TOPIC_FRAMES, row.payload)
                if up.kind not in ("key", "delta"):
                    raise ReplayError(f"{path}: message seq {row.seq} (tick {row.tick}) does "
                                      f"not apply to the frame before it ({up.kind}); a "
                                      "recording must start with a keyframe")
                if ring is None:
                    assert sub.schema is not None  # a keyframe was applied
                    ticks_per_day = int(sub.state["ticks_per_day"][0])
                    ring = FrameRing(sub.schema, config_id=sub.config_id or "replay",
                                     ticks_per_day=ticks_per_day, slots=settings.ring_slots)
                    sections = _Sections(sub.schema)
                    proc = spawn_publisher(ring, settings, key_dir=key_dir)
                    ready = wait_ready(proc)
                    if on_ready is not None:
                        on_ready(ready)
                    _await_subscribers(settings.metrics_host, int(ready["metrics_port"]),
                                       wait_for, wait_timeout)
                    next_due = time.monotonic()
                ring.publish(up.tick, sections.of(sub))
                frames += 1
                first = up.tick if first is None else first
                last = up.tick
                if tps > 0:
                    next_due += 1.0 / tps
                    time.sleep(max(0.0, next_due - time.monotonic()))
    finally:
        sub.close()
        if ring is not None:
            ring.close()  # the publisher ships the last frame, ends the stream and exits
        if proc is not None:
            proc.wait(30)
    return {"frames": frames, "first_tick": first, "last_tick": last}


def _await_subscribers(host: str, port: int, n: int, timeout: float) -> None:
    if n <= 0:
        return
    deadline = time.monotonic() + timeout
    while _subscribers(host, port) < n:
        if time.monotonic() > deadline:
            raise ReplayError(f"no {n} subscriber(s) within {timeout:.0f}s")
        time.sleep(0.05)
