"""Where the towns run: a private local Ray instance, an existing cluster, or no Ray.

Kept apart from the sweep so that a learner can shard rollouts without importing the
simulation loop a sweep's towns use."""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["LOCAL", "SERIAL", "connect"]

LOCAL = "local"
"""Start a private Ray instance for this sweep (the default)."""
SERIAL = "none"
"""No Ray: run the towns one after another in this process."""


def connect(address: str, workers: int | None) -> Any:
    """Ray, initialised for ``address`` (``local``, ``auto``, ``ray://host:port``)."""
    import ray

    if not ray.is_initialized():
        if address == LOCAL:
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    return ray
