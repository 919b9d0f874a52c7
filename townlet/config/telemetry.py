"""The ``telemetry:`` section: frame ring, the publisher's settings and its supervision.

``PublisherSettings`` is the one definition of what the publisher process takes:
`townlet publish` derives its option defaults from it, `townlet run` passes a
config's values to the child it spawns, and ``Publisher`` is built from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

__all__ = ["PublisherSettings", "TelemetryConfig", "publisher_settings"]


class PublisherSettings(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the publisher serves frames (everything but the ring and the keys)."""

    endpoint: Annotated[str, Meta(min_length=1, max_length=256)] = "tcp://127.0.0.1:7710"
    """ZeroMQ endpoint the publisher's XPUB socket binds (e.g. tcp://*:7710 for all interfaces)."""
    insecure_dev: bool = False
    """Plaintext without authentication; forces a loopback bind and logs a warning."""
    keyframe_interval: Annotated[int, Meta(ge=1, le=1_000_000)] = 100
    """A keyframe every this many ticks (plus one whenever a subscriber joins)."""
    keyframe_min_seconds: Annotated[float, Meta(ge=0.0, le=60.0)] = 0.1
    """Least time between keyframes requested by subscriptions or resync requests."""
    hwm: Annotated[int, Meta(ge=1, le=100_000)] = 16
    """Messages queued per subscriber before further messages are dropped for it."""
    metrics_port: Annotated[int, Meta(ge=0, le=65535)] = 0
    """Prometheus port of the publisher (0 = no exporter)."""
    metrics_host: Annotated[str, Meta(min_length=1, max_length=256)] = "127.0.0.1"
    """Interface the publisher's metrics exporter listens on."""
    health_seconds: Annotated[float, Meta(ge=0.01, le=3600.0)] = 1.0
    """Interval of health messages (topic h)."""
    poll_ms: Annotated[int, Meta(ge=1, le=10_000)] = 50
    """Longest wait for a doorbell before the publisher looks at the ring anyway."""
    nice: Annotated[int, Meta(ge=0, le=19)] = 10
    """Niceness added to the publisher so the simulation wins contended cores."""


class TelemetryConfig(PublisherSettings, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where and how frames are published to subscribers (the publisher's settings plus
    what the simulation decides: the ring and the supervision of the publisher)."""

    enabled: bool = True
    """Write frames and spawn the publisher (`townlet run`); false = no telemetry at all."""
    frame_every: Annotated[int, Meta(ge=1, le=1_000_000)] = 8
    """Write a frame on every tick that is a multiple of this (1 = every tick). The events
    of the ticks in between still all reach subscribers, through the ring's event log; a
    run's last tick always gets a frame."""
    ring_slots: Annotated[int, Meta(ge=2, le=1024)] = 4
    """Frame slots in the shared-memory ring."""
    event_log_events: Annotated[int, Meta(ge=1024, le=1 << 28)] = 1 << 20
    """Events the ring's event log holds (at least two ticks' worth): the publisher ships
    the events of every tick it skips unless it falls this many events behind."""
    restart_backoff_seconds: Annotated[float, Meta(ge=0.01, le=600.0)] = 0.5
    """Delay before restarting a publisher that died; doubled after each failed restart."""
    restart_backoff_max_seconds: Annotated[float, Meta(ge=0.01, le=3600.0)] = 30.0
    """Longest restart delay; a publisher that stays up this long resets the delay."""


def publisher_settings(source: Mapping[str, Any] | PublisherSettings) -> PublisherSettings:
    """Validated PublisherSettings from field values or from a TelemetryConfig (its
    publisher fields); ValueError naming the field if a value is out of range."""
    names = PublisherSettings.__struct_fields__
    values = (dict(source) if isinstance(source, Mapping)
              else {n: getattr(source, n) for n in names})
    try:
        return msgspec.convert(values, PublisherSettings)
    except msgspec.ValidationError as exc:
        raise ValueError(f"publisher settings: {exc}") from None
