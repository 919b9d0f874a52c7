"""The ``console:`` section: the authenticated operator console server.

Paths are relative to the process working directory. Keys and the registry live
in the ``keys:`` section's directory, managed with ``townlet keys`` (see
docs/ops/credentials.md).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from townlet.config.paths import AUDIT_PATH

__all__ = ["ConsoleConfig"]


class ConsoleConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Console server settings (CURVE + ZAP, RBAC, queue, rate limit, audit)."""

    enabled: bool = True
    """Start the console server inside ``townlet run`` (``--console/--no-console`` overrides)."""
    endpoint: Annotated[str, Meta(min_length=6, max_length=256, pattern=r"^tcp://")] = (
        "tcp://127.0.0.1:7571"
    )
    """ZeroMQ endpoint the ROUTER binds (CURVE is always on); use ``tcp://*:PORT`` for remote operators."""
    queue_size: Annotated[int, Meta(ge=1, le=1_000_000)] = 1024
    """Authenticated requests waiting for the simulation; beyond this clients get E_BUSY."""
    max_per_tick: Annotated[int, Meta(ge=1, le=100_000)] = 64
    """Requests the simulation executes at the start of one tick (bounded work per tick)."""
    max_request_bytes: Annotated[int, Meta(ge=256, le=16_777_216)] = 65_536
    """Larger requests get E_TOO_LARGE; ones over 16x this drop the connection."""
    rate_per_s: Annotated[float, Meta(gt=0.0, le=1_000_000.0)] = 500.0
    """Token-bucket refill rate per identity (requests per second)."""
    burst: Annotated[int, Meta(ge=1, le=1_000_000)] = 1000
    """Token-bucket capacity per identity (largest burst)."""
    replay_cache_size: Annotated[int, Meta(ge=16, le=1_000_000)] = 4096
    """Results of state-changing commands kept per identity for cmd_id replay."""
    replay_identities: Annotated[int, Meta(ge=1, le=100_000)] = 256
    """Identities whose cmd_ids are remembered (the least recently seen is dropped)."""
    replay_ttl_s: Annotated[float, Meta(gt=0.0, le=86_400.0)] = 900.0
    """How long a cmd_id is remembered (seconds)."""
    recent_events: Annotated[int, Meta(ge=16, le=1_000_000)] = 4096
    """World events kept for the ``events`` command."""
    audit_path: Annotated[str, Meta(min_length=1)] = AUDIT_PATH
    """Audit log (JSON lines), rotated by size."""
    audit_max_bytes: Annotated[int, Meta(ge=4096)] = 10_000_000
    """Rotate the audit log when it reaches this size."""
    audit_backups: Annotated[int, Meta(ge=1, le=1000)] = 10
    """Rotated audit files kept."""
    metrics_port: Annotated[int, Meta(ge=0, le=65535)] = 0
    """Port of the console front process's /metrics, /livez and /readyz (0 = none)."""
    metrics_host: Annotated[str, Meta(min_length=1, max_length=256)] = "127.0.0.1"
    """Interface that endpoint listens on (0.0.0.0 inside a container)."""
