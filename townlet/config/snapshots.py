"""The ``snapshots:`` section: where snapshot files live and how often the run autosaves."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from townlet.config.paths import SNAPSHOTS_DIR

__all__ = ["SnapshotsConfig"]


class SnapshotsConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Snapshot storage and autosave policy."""

    root: Annotated[str, Meta(min_length=1, max_length=4096)] = SNAPSHOTS_DIR
    """Directory every snapshot path is confined to (relative to the working directory)."""
    autosave_every: Annotated[int, Meta(ge=0, le=100_000_000)] = 0
    """Autosave every this many ticks (0 = off). Written off the tick thread."""
    keep_last: Annotated[int, Meta(ge=1, le=1000)] = 3
    """Autosaves kept; older autosaves are deleted (operator-named files never are)."""
