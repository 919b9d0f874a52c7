"""Checkpoints: one file per policy version, written atomically, loaded without pickle.

A checkpoint is a ``torch.save`` of plain containers (tensors, numbers, strings)
so it loads with ``torch.load(weights_only=True)``, which refuses arbitrary
objects: a checkpoint from an untrusted source cannot run code. It holds the
weights, the optimiser state, RNG states and ``CheckpointMeta`` (JSON): identity
(``policy_hash``, parent hash, config_id, observation layout and its hash, action
list and its hash), the architecture, counters and training metadata.

``policy_hash`` (SPEC/learning.md §6.3) is SHA-256 over the weights (sorted names,
dtype, shape, little-endian bytes) followed by the canonical JSON of the
architecture, layout hash, action-space hash and variant. Loading recomputes it
and refuses a mismatch; given the env's ``Layout``, it also refuses a checkpoint
trained on another observation layout or action space.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import numpy as np
import torch
from msgspec import Struct

from townlet.rl.layout import ACTION_NAMES, Layout, action_space_hash
from townlet.train.nets import NetConfig, PolicyNet

__all__ = ["FORMAT", "Checkpoint", "CheckpointError", "CheckpointMeta", "CheckpointStore",
           "Counters", "atomic_write", "load_checkpoint", "policy_hash", "restore_rng",
           "rng_state", "save_checkpoint"]

FORMAT = "townlet-checkpoint-1"
"""Bumped whenever the file's structure changes; loaders refuse other values."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here: corrupt, foreign, or for another layout."""


class Counters(Struct, frozen=True, kw_only=True):
    """How much training produced these weights."""

    updates: int = 0
    """Optimiser passes over a rollout (PPO) or epochs (BC)."""
    agent_steps: int = 0
    """Agent transitions collected (env steps x agent slots)."""
    env_steps: int = 0
    """World ticks run."""


class CheckpointMeta(Struct, frozen=True, kw_only=True):
    """Everything in a checkpoint except tensors (stored as JSON inside the file)."""

    format: str
    policy_hash: str
    parent_policy_hash: str | None
    """The checkpoint this one was trained from (e.g. the BC policy of a warm start)."""
    created: str
    code_version: str
    config_id: str
    variant: str
    layout: Layout
    action_names: tuple[str, ...]
    action_space_hash: str
    net: NetConfig
    counters: Counters
    training: dict[str, Any]
    """Algorithm, hyperparameters, seeds, gates passed (e.g. BC held-out accuracy)."""


class Checkpoint(Struct, frozen=True, kw_only=True):
    """A loaded checkpoint: metadata, weights, and what a resumed run needs."""

    meta: CheckpointMeta
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None
    rng: dict[str, Any] | None

    def build_net(self) -> PolicyNet:
        """A ``PolicyNet`` carrying the checkpoint's weights (in eval mode)."""
        net = PolicyNet(self.meta.net)
        net.load_state_dict(self.weights)
        return net.eval()


def policy_hash(weights: dict[str, torch.Tensor], net: NetConfig, layout_hash: str,
                action_hash: str, variant: str) -> str:
    """SHA-256 of the weights and of what they mean (see module doc)."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        t = weights[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes())
    doc = {"net": msgspec.to_builtins(net), "obs_layout_hash": layout_hash,
           "action_space_hash": action_hash, "observation_variant": variant}
    digest.update(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def rng_state(generator: np.random.Generator | None = None) -> dict[str, Any]:
    """RNG states to resume a run: torch CPU, Python's ``random``, and a NumPy generator."""
    return {"torch": torch.get_rng_state(),
            "python": json.dumps(random.getstate()),
            "numpy": json.dumps(generator.bit_generator.state) if generator is not None else None}


def restore_rng(state: dict[str, Any], generator: np.random.Generator | None = None) -> None:
    """Put back what ``rng_state`` captured (the NumPy generator only if given)."""
    torch.set_rng_state(state["torch"])
    version_, internal, gauss = json.loads(state["python"])
    random.setstate((version_, tuple(internal), gauss))
    if generator is not None and state["numpy"] is not None:
        generator.bit_generator.state = json.loads(state["numpy"])


def save_checkpoint(path: str | os.PathLike, net: PolicyNet, layout: Layout, *, config_id: str,
                    optimizer: torch.optim.Optimizer | None = None, counters: Counters | None = None,
                    training: dict[str, Any] | None = None, parent: str | None = None,
                    rng: dict[str, Any] | None = None) -> CheckpointMeta:
    """Write a checkpoint to ``path`` atomically (temp file in the same directory,
    fsync, rename); returns its metadata."""
    if net.cfg.variant != layout.variant or net.cfg.map_shape != layout.map_shape or (
            net.cfg.n_features != layout.n_features):
        raise CheckpointError(f"network built for {net.cfg.variant} {net.cfg.map_shape} "
                              f"x {net.cfg.n_features} features does not match layout "
                              f"{layout.variant} {layout.map_shape} x {layout.n_features}")
    weights = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    a_hash = action_space_hash()
    meta = CheckpointMeta(
        format=FORMAT, policy_hash=policy_hash(weights, net.cfg, layout.layout_hash, a_hash,
                                               layout.variant),
        parent_policy_hash=parent, created=datetime.now(UTC).isoformat(timespec="seconds"),
        code_version=version("townlet"), config_id=config_id, variant=layout.variant,
        layout=layout, action_names=ACTION_NAMES, action_space_hash=a_hash, net=net.cfg,
        counters=counters or Counters(), training=training or {})
    payload = {"format": FORMAT, "meta": msgspec.json.encode(meta).decode(), "weights": weights,
               "optimizer": optimizer.state_dict() if optimizer is not None else None,
               "rng": rng}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: torch.save(payload, fh))
    return meta


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``path`` with what ``write`` writes to a binary file: a temp file
    in the same directory, fsync, rename, so a reader sees the old file or the new one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _layout_difference(have: Layout, want: Layout) -> str:
    """The first thing that differs between two layouts, in words."""
    if have.variant != want.variant:
        return f"variant {have.variant!r} vs {want.variant!r}"
    if have.map_shape != want.map_shape or have.map_channels != want.map_channels:
        return f"map {list(have.map_channels)} {have.map_shape} vs " \
               f"{list(want.map_channels)} {want.map_shape}"
    for i, (a, b) in enumerate(zip(have.feature_names, want.feature_names)):
        if a != b:
            return f"feature {i}: {a!r} vs {b!r}"
    if have.n_features != want.n_features:
        return f"{have.n_features} vs {want.n_features} features"
    return f"layout version {have.version!r} vs {want.version!r}"


def load_checkpoint(path: str | os.PathLike, layout: Layout | None = None) -> Checkpoint:
    """Load and verify a checkpoint; with ``layout``, refuse one trained for another.

    Raises ``CheckpointError`` (a ValueError) naming the file and the reason:
    not a checkpoint, another format, weights that do not match their policy hash,
    another action space, or another observation layout.
    """
    path = Path(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"{path}: not a readable townlet checkpoint ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{path}: format {found!r}, expected {FORMAT!r}")
    try:
        meta = msgspec.json.decode(raw["meta"], type=CheckpointMeta)
    except msgspec.ValidationError as exc:
        raise CheckpointError(f"{path}: bad metadata: {exc}") from exc
    weights = raw["weights"]
    got = policy_hash(weights, meta.net, meta.layout.layout_hash, meta.action_space_hash,
                      meta.variant)
    if got != meta.policy_hash:
        raise CheckpointError(f"{path}: weights do not match policy_hash {meta.policy_hash[:12]} "
                              f"(got {got[:12]}): the file is damaged or was edited")
    if meta.action_space_hash != action_space_hash():
        raise CheckpointError(f"{path}: trained for actions {list(meta.action_names)}, this "
                              f"build has {list(ACTION_NAMES)}")
    if layout is not None and meta.layout.layout_hash != layout.layout_hash:
        raise CheckpointError(
            f"{path}: trained on observation layout {meta.variant}/{meta.layout.layout_hash[:12]}"
            f", this environment has {layout.variant}/{layout.layout_hash[:12]} "
            f"({_layout_difference(meta.layout, layout)}); use the config and variant it was "
            f"trained with (--variant {meta.variant}) or train a policy for this layout")
    return Checkpoint(meta=meta, weights=weights, optimizer=raw["optimizer"], rng=raw["rng"])


_NAME = re.compile(r"^ckpt-(\d{8})\.pt$")


class CheckpointStore:
    """A directory of ``ckpt-<updates>.pt`` files keeping the newest ``retain``."""

    def __init__(self, root: str | os.PathLike, retain: int = 3):
        if retain < 1:
            raise ValueError(f"retain must be >= 1, got {retain}")
        self.root = Path(root)
        self.retain = retain

    def paths(self) -> list[Path]:
        """Checkpoints in the store, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if _NAME.match(p.name))

    def latest(self) -> Path | None:
        """The newest checkpoint, or None if the store is empty."""
        paths = self.paths()
        return paths[-1] if paths else None

    def save(self, net: PolicyNet, layout: Layout, **kwargs) -> tuple[Path, CheckpointMeta]:
        """``save_checkpoint`` as ``ckpt-<counters.updates>.pt``, then drop the oldest
        files beyond ``retain``."""
        counters = kwargs.get("counters") or Counters()
        path = self.root / f"ckpt-{counters.updates:08d}.pt"
        meta = save_checkpoint(path, net, layout, **kwargs)
        for old in self.paths()[:-self.retain]:
            old.unlink(missing_ok=True)
        return path, meta
