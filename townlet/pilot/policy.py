"""What the town needs from a learned policy: a batched callable plus its identity.

``LoadedPolicy`` wraps any callable mapping a batch of observations and action masks
to actions (one code per row, masked actions never chosen) with the facts frames,
snapshots and the promotion state record about it. ``load_policy`` reads a checkpoint
written by ``townlet.train`` and refuses one whose observation layout differs from the
town's, naming both layout hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec
import numpy as np

from townlet.rl.layout import Layout

__all__ = ["Act", "LayoutMismatch", "LoadedPolicy", "check_layout", "checkpoint_name"]

Act = Callable[[Mapping[str, np.ndarray], np.ndarray], np.ndarray]
"""(obs batch {"map": (B,C,H,W), "features": (B,F), ...}, mask (B, A) bool) -> actions (B,)."""


class LayoutMismatch(ValueError):
    """A policy was trained on another observation layout than the town produces."""


class LoadedPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A policy ready to drive agents, with its identity."""

    act: Act
    name: str
    """Short human name (the checkpoint's name)."""
    policy_hash: str
    """SHA-256 hex of weights + architecture + layout (SPEC/learning.md §6.3)."""
    variant: str
    """Observation variant it reads."""
    layout_hash: str
    """``Layout.layout_hash`` of the observations it was trained on."""
    checkpoint: str = ""
    """Where it was loaded from (empty for an in-process policy)."""


def check_layout(policy: LoadedPolicy, layout: Layout, where: str) -> None:
    """Raise :class:`LayoutMismatch` unless ``policy`` reads ``layout``'s observations."""
    if policy.layout_hash != layout.layout_hash or policy.variant != layout.variant:
        raise LayoutMismatch(
            f"policy {policy.name!r} ({policy.checkpoint or 'in-process'}) was trained on "
            f"{policy.variant} observations with layout {policy.layout_hash[:12]}, but "
            f"{where} produces {layout.variant} observations with layout "
            f"{layout.layout_hash[:12]}; use the config and rl.observations the policy was "
            f"trained with")


def checkpoint_name(path: str | Path) -> str:
    """A policy's name from its checkpoint path (the file or directory name)."""
    p = Path(path)
    return (p.stem if p.suffix else p.name)[:64]
