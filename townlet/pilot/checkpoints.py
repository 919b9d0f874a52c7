"""Checkpoints written by ``townlet.train`` as :class:`~townlet.pilot.policy.LoadedPolicy`.

The town acts greedily (each agent's most likely allowed action): a run or a suite
evaluation is then a function of config, seed and checkpoint alone, also across a
snapshot resume, which a sampling generator's hidden state would break.
"""

from __future__ import annotations

import os
from pathlib import Path

from townlet.pilot.policy import LoadedPolicy, checkpoint_name
from townlet.train.policy import load_policy

__all__ = ["load"]


def load(path: str | os.PathLike[str]) -> LoadedPolicy:
    """Load and verify the checkpoint at ``path`` (``CheckpointError``, a ValueError, or
    OSError when it cannot be used)."""
    real = Path(path).resolve()
    policy = load_policy(real)
    ident = policy.identity

    def act(obs, mask):
        return policy(obs, mask, greedy=True)

    return LoadedPolicy(act=act, name=checkpoint_name(real), policy_hash=ident.policy_hash,
                        variant=ident.variant, layout_hash=ident.layout_hash,
                        checkpoint=str(real))
