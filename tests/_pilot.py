"""Tiny towns, tiny policies and promotion states for the pilot/promotion tests."""

from __future__ import annotations

import msgspec
import numpy as np

from townlet.config import TownletConfig, default_config
from townlet.pilot.policy import LoadedPolicy
from townlet.rl.layout import build_layout
from townlet.world.actions import Action

__all__ = ["config", "eating_policy", "tiny_checkpoint", "waiting_policy"]


def config(state_dir, agents: int = 40, rl_window: bool = False, **pilot) -> TownletConfig:
    """A tiny compact-observation town (``rl_window``: a 7-tile map instead of 5, another
    layout); ``pilot`` overrides sections of ``pilot:``."""
    raw = msgspec.to_builtins(default_config())
    raw["world"]["town"]["agents"] = agents
    raw["rl"]["observations"]["variant"] = "compact"
    if rl_window:
        raw["rl"]["observations"]["compact_window"] = 7
    raw["pilot"]["promotion"].update(window_ticks=60, state_dir=str(state_dir))
    for section, values in pilot.items():
        raw["pilot"][section].update(values)
    return msgspec.convert(raw, TownletConfig)


def _policy(cfg: TownletConfig, name: str, act) -> LoadedPolicy:
    layout = build_layout(cfg)
    return LoadedPolicy(act=act, name=name, policy_hash=name[0] * 64, variant=layout.variant,
                        layout_hash=layout.layout_hash)


def waiting_policy(cfg: TownletConfig) -> LoadedPolicy:
    """Every agent it drives waits forever (and starves)."""
    return _policy(cfg, "a-waiter", lambda obs, mask: np.zeros(len(mask), np.int64))


def eating_policy(cfg: TownletConfig) -> LoadedPolicy:
    """Goes to eat whenever it may, else waits."""
    def act(obs, mask):
        return np.where(mask[:, Action.GO_EAT], int(Action.GO_EAT), int(Action.WAIT))
    return _policy(cfg, "b-eater", act)


def tiny_checkpoint(path, cfg: TownletConfig, seed: int) -> str:
    """A real ``townlet.train`` checkpoint of a tiny random network; returns its hash."""
    import torch

    from townlet.config import config_id
    from townlet.train.checkpoint import save_checkpoint
    from townlet.train.nets import NetConfig, PolicyNet

    torch.manual_seed(seed)
    layout = build_layout(cfg)
    net = PolicyNet(NetConfig.for_layout(layout, hidden=8))
    return save_checkpoint(path, net, layout, config_id=config_id(cfg)).policy_hash
