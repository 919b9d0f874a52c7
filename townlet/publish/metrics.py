"""Prometheus metrics of the publisher: its own registry and exporter port.

One exporter per process (never prometheus-client's multiprocess mode). Names
are listed once here and in docs/protocol.md ("Publisher metrics").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PublisherMetrics"]


class PublisherMetrics:
    """Every metric the publisher exports, on a private registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        p = "townlet_publish_"
        self.frames_read = Counter(p + "frames_read", "Frames copied out of the ring", registry=r)
        self.frames_skipped = Counter(p + "frames_skipped",
                                      "Frames not shipped because a newer one existed", registry=r)
        self.keyframes = Counter(p + "keyframes_sent", "Keyframe messages sent", registry=r)
        self.deltas = Counter(p + "deltas_sent", "Delta messages sent", registry=r)
        self.health = Counter(p + "health_sent", "Health messages sent", registry=r)
        self.bytes_sent = Counter(p + "bytes_sent", "Payload bytes handed to the socket",
                                  ["kind"], registry=r)
        self.encode_seconds = Histogram(
            p + "encode_seconds", "Time to read, diff and encode one frame message",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
            registry=r)
        self.dropped = Counter(p + "dropped_messages",
                               "Messages subscribers reported missing (HWM drops)", registry=r)
        self.resyncs = Counter(p + "resync_requests", "Resync requests received", registry=r)
        self.bad_upstream = Counter(p + "bad_upstream_messages",
                                    "Undecodable messages received from subscribers", registry=r)
        self.lag_ticks = Gauge(p + "lag_ticks", "Newest ring tick minus last shipped tick",
                               registry=r)
        self.backlog = Gauge(p + "queue_length",
                             "Frames published to the ring but not yet considered", registry=r)
        self.torn = Counter(p + "torn_reads", "Ring copies discarded as torn", registry=r)
        self.lapped = Counter(p + "lapped_reads", "Ring copies discarded as overwritten",
                              registry=r)
        self.events_lost = Counter(p + "events_lost",
                                   "Events of skipped ticks overwritten in the event log "
                                   "before shipping", registry=r)
        self.subscribers = Gauge(p + "subscribers", "Connections currently receiving frames",
                                 registry=r)
        self.refused = Counter(p + "refused_subscriptions",
                               "Subscriptions to topics that are never published", registry=r)
        self.disconnects = Counter(p + "subscribers_disconnected",
                                   "Connections the publisher closed (revoked or expired key, "
                                   "too many subscriptions)", ["reason"], registry=r)
        self.client_dropped = Counter(p + "client_dropped_messages",
                                      "Lost messages counted per reporting client key id",
                                      ["client"], registry=r)
        self.handshake_failures = Counter(p + "handshake_failures",
                                          "Connections refused during the handshake (auth)",
                                          registry=r)
        self.doorbells = Counter(p + "doorbells", "Doorbells received from the simulation",
                                 registry=r)
        self.restarts = Gauge(p + "restarts",
                              "Times the simulation restarted its publisher (after it died)",
                              registry=r)
