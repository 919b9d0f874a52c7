"""The publisher process (`townlet publish`) and how the simulation starts it."""

from townlet.publish.spawn import PublisherStartError, spawn_publisher, wait_ready

__all__ = ["PublisherStartError", "spawn_publisher", "wait_ready"]
