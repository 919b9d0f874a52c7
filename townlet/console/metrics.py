"""Prometheus metrics of the console server, registered on the simulation's registry.

The console runs inside the simulation process, so its metrics are served by that
process's one exporter (``ops.http_port``). Every request is counted exactly once,
when it is answered and audited (``IOThread._audit``); the command label is the
command's name only when it is in the table (``unknown`` otherwise, ``unparsed``
before the envelope was decoded), so a client cannot grow the label set.
docs/ops/metrics.md lists these names and a test checks it against this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["ConsoleMetrics"]

_P = "townlet_console_"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class _HandshakeDenials(Collector):
    """ZAP refusals by reason, read from the authenticator's counters at scrape time."""

    def __init__(self, source: Callable[[], Mapping[str, int]]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        fam = CounterMetricFamily(_P + "handshake_failures",
                                  "Connections refused by the ZAP handler, by reason",
                                  labels=["reason"])
        for reason, n in sorted(self.source().items()):
            fam.add_metric([reason], n)
        yield fam


class ConsoleMetrics:
    """Every metric the console exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = self.registry = registry
        self.requests = Counter(_P + "requests", "Requests answered, by command and result code",
                                ["command", "result"], registry=r)
        self.latency = Histogram(_P + "request_seconds",
                                 "Time from receiving a request to answering it",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.auth_failures = Counter(_P + "auth_failures",
                                     "Requests refused for the caller's key or role, by reason "
                                     "(revoked, expired, unknown, unavailable, role)",
                                     ["reason"], registry=r)
        self.rate_limited = Counter(_P + "rate_limited",
                                    "Requests refused by the per-identity rate limit",
                                    registry=r)
        self.queue = Gauge(_P + "queue_length", "Admitted requests waiting for the simulation",
                           registry=r)

    def watch(self, queue_size: Callable[[], int],
              denials: Callable[[], Mapping[str, int]]) -> None:
        """Read the request queue's length and the ZAP denials at scrape time."""
        self.queue.set_function(queue_size)
        self.registry.register(_HandshakeDenials(denials))
