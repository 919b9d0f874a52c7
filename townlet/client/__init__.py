"""What external consumers import: ``Subscriber`` (telemetry frames)."""

from townlet.client.subscriber import Subscriber, SubscriberStats, Update

__all__ = ["Subscriber", "SubscriberStats", "Update"]
