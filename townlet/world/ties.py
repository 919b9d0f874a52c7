"""What counts as a friend and as a rival: the one definition the town reports, the
console's ``related`` query and the dashboard's relationship filter share.

A friendship is a tie with trust at or above ``relationships.friendship_threshold``;
a rivalry one with rivalry at or above ``relationships.avoid_threshold`` (the level
at which agents refuse to chat and avoid each other's queues); ``tie`` is any held
tie slot. Each is one vectorised comparison over the agents × slots tie arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import numpy as np

from townlet.config.world import RelationshipConfig

__all__ = ["TIE_KINDS", "TieKind", "tie_mask"]

TieKind = Literal["tie", "friend", "rival"]
TIE_KINDS: tuple[str, ...] = get_args(TieKind)


def tie_mask(view: Callable[[str], np.ndarray], rel: RelationshipConfig,
             kind: str) -> np.ndarray:
    """Ties of ``kind``, one bool per (agent, tie slot); ``view`` reads state sections."""
    held = view("rel_other") >= 0
    if kind == "tie":
        return held
    if kind == "friend":
        return held & (view("rel_trust") >= np.float32(rel.friendship_threshold))
    if kind == "rival":
        return held & (view("rel_riv") >= np.float32(rel.avoid_threshold))
    raise ValueError(f"unknown tie kind {kind!r}; kinds: {', '.join(TIE_KINDS)}")
