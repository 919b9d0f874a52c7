"""The ``ops:`` section: the simulation's metrics and health endpoint, and how a stop ends.

The publisher's own endpoint is ``telemetry.metrics_port``/``metrics_host``; the
recorder's is its ``--http-port`` option. Every one serves ``/metrics``, ``/livez``
and ``/readyz`` (docs/ops/metrics.md).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

__all__ = ["OpsConfig"]


class OpsConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Observability and lifecycle settings of ``townlet run``."""

    http_port: Annotated[int, Meta(ge=0, le=65535)] = 0
    """Port of the simulation's /metrics, /livez and /readyz endpoint (0 = none)."""
    http_host: Annotated[str, Meta(min_length=1, max_length=256)] = "127.0.0.1"
    """Interface that endpoint listens on (0.0.0.0 inside a container)."""
    stall_seconds: Annotated[float, Meta(gt=0.0, le=3600.0)] = 30.0
    """/livez fails when the loop has not turned for this long (a hung tick)."""
    snapshot_on_stop: bool = False
    """On SIGTERM (or the end of --ticks), write a final snapshot ``stop-<tick>.tsnap`` into
    snapshots.root before exiting."""
