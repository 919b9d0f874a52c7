"""The publisher process (`townlet publish`) and how the simulation starts it."""

from townlet.publish.hook import TelemetryHook
from townlet.publish.spawn import PublisherStartError, spawn_publisher, wait_ready

__all__ = ["PublisherStartError", "TelemetryHook", "spawn_publisher", "wait_ready"]
