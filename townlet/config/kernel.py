"""The ``kernel:`` section: how the world kernel runs on this machine. Outside
``world`` on purpose: it changes how fast a tick is computed, never what it computes,
so it is not part of ``config_id`` and a run's state hashes are the same for every value."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

__all__ = ["KernelConfig"]


class KernelConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Compute resources of the world kernel."""

    threads: Annotated[int, Meta(ge=1, le=256)] = 1
    """Threads for the tick's parallel phase (at most ``NUMBA_NUM_THREADS``, by default
    the machine's cores); any value gives bit-identical states."""
