"""The ``telemetry:`` section: frame ring and the publisher process ``townlet run`` spawns."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from townlet.config.paths import KEYS_DIR

__all__ = ["TelemetryConfig"]


class TelemetryConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where and how frames are published to subscribers."""

    enabled: bool = True
    """Write frames and spawn the publisher (`townlet run`); false = no telemetry at all."""
    endpoint: Annotated[str, Meta(min_length=1, max_length=256)] = "tcp://127.0.0.1:7710"
    """ZeroMQ endpoint the publisher's XPUB socket binds (e.g. tcp://*:7710 for all interfaces)."""
    key_dir: Annotated[str, Meta(min_length=1, max_length=4096)] = KEYS_DIR
    """Key directory from `townlet keys init`: server.key_secret and registry.json."""
    insecure_dev: bool = False
    """Plaintext without authentication; forces a loopback bind and logs a warning."""
    ring_slots: Annotated[int, Meta(ge=2, le=1024)] = 4
    """Frame slots in the shared-memory ring."""
    keyframe_interval: Annotated[int, Meta(ge=1, le=1_000_000)] = 100
    """A keyframe every this many ticks (plus one whenever a subscriber joins)."""
    keyframe_min_seconds: Annotated[float, Meta(ge=0.0, le=60.0)] = 0.1
    """Least time between keyframes requested by subscriptions or resync requests."""
    hwm: Annotated[int, Meta(ge=1, le=100_000)] = 16
    """Messages queued per subscriber before further messages are dropped for it."""
    metrics_port: Annotated[int, Meta(ge=0, le=65535)] = 9465
    """Prometheus port of the publisher (0 = no exporter)."""
    metrics_host: Annotated[str, Meta(min_length=1, max_length=256)] = "127.0.0.1"
    """Interface the publisher's metrics exporter listens on."""
    health_seconds: Annotated[float, Meta(gt=0.0, le=3600.0)] = 1.0
    """Interval of health messages (topic h)."""
