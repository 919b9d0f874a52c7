"""``Policy``: a trained network as a batched decision function for a whole town.

One call maps every agent slot's observation and action mask to one action
(``(N,)`` int64) in a single forward pass: no Python per agent. Disallowed
actions get probability 0. ``identity`` says which weights decide, for frames,
snapshots and promotion records.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from msgspec import Struct

from townlet.rl.layout import Layout
from townlet.train.checkpoint import load_checkpoint
from townlet.train.nets import PolicyNet, masked_logits

__all__ = ["Policy", "PolicyIdentity", "load_policy"]


class PolicyIdentity(Struct, frozen=True, kw_only=True):
    """Which policy acts: the hashes a frame, snapshot or promotion record carries."""

    policy_hash: str
    variant: str
    layout_hash: str
    action_space_hash: str
    config_id: str
    """The config the policy was trained on (not necessarily the running town's)."""


class Policy:
    """A ``PolicyNet`` plus its identity; call it on a batch of observations."""

    def __init__(self, net: PolicyNet, identity: PolicyIdentity, *, seed: int = 0):
        self.net = net.eval()
        self.identity = identity
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, layout: Layout | None = None, *,
                        seed: int = 0) -> Policy:
        """Load ``path`` (verified; refused if trained for another ``layout``)."""
        ckpt = load_checkpoint(path, layout)
        m = ckpt.meta
        identity = PolicyIdentity(policy_hash=m.policy_hash, variant=m.variant,
                                  layout_hash=m.layout.layout_hash,
                                  action_space_hash=m.action_space_hash, config_id=m.config_id)
        return cls(ckpt.build_net(), identity, seed=seed)

    @torch.inference_mode()
    def distribution(self, obs: dict[str, np.ndarray], mask: np.ndarray) -> torch.Tensor:
        """Action probabilities (N, A) for observations ``obs`` (``map``, ``features``)."""
        logits, _ = self.net(torch.from_numpy(obs["map"]), torch.from_numpy(obs["features"]))
        return torch.softmax(masked_logits(logits, torch.from_numpy(mask)), -1)

    @torch.inference_mode()
    def __call__(self, obs: dict[str, np.ndarray], mask: np.ndarray, *,
                 greedy: bool = False) -> np.ndarray:
        """One action per row: sampled from the masked policy (the policy's own
        seeded generator), or its most likely allowed action if ``greedy``."""
        logits, _ = self.net(torch.from_numpy(obs["map"]), torch.from_numpy(obs["features"]))
        logits = masked_logits(logits, torch.from_numpy(mask))
        if greedy:
            return logits.argmax(-1).numpy()
        probs = torch.softmax(logits, -1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1).numpy()


def load_policy(path: str | os.PathLike, layout: Layout | None = None, *, seed: int = 0) -> Policy:
    """``Policy.from_checkpoint``: the one call a consumer needs."""
    return Policy.from_checkpoint(path, layout, seed=seed)
