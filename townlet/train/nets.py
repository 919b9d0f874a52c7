"""The policy network: one set of parameters shared by every agent.

``compact`` observations go through an MLP (the small map is flattened next to
the features); ``hybrid`` and ``full`` maps go through a small conv trunk whose
output joins an MLP over the features. Both end in a policy head (one logit
per action) and a value head. ``NetConfig`` is the architecture; it is stored
in every checkpoint and hashed into the policy hash.
"""

from __future__ import annotations

import math

import torch
from msgspec import Struct
from torch import nn

from townlet.rl.layout import Layout
from townlet.world.actions import N_ACTIONS

__all__ = ["NetConfig", "PolicyNet", "masked_logits"]


class NetConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Architecture of a ``PolicyNet``; every field changes the parameter shapes."""

    variant: str
    """Observation variant; ``compact`` selects the MLP trunk, others the conv trunk."""
    map_shape: tuple[int, int, int]
    """(channels, height, width) of the egocentric map."""
    n_features: int
    """Length of the feature vector."""
    n_actions: int = N_ACTIONS
    """Number of logits."""
    hidden: int = 64
    """Width of the MLP layers (the update cost grows with its square)."""
    conv_channels: int = 16
    """Channels of the conv trunk's first layer (the second has twice as many)."""

    @classmethod
    def for_layout(cls, layout: Layout, **kwargs) -> NetConfig:
        """The architecture for observations of ``layout`` (kwargs: hidden, conv_channels)."""
        return cls(variant=layout.variant, map_shape=layout.map_shape,
                   n_features=layout.n_features, **kwargs)


def _layer(inputs: int, outputs: int, gain: float = math.sqrt(2)) -> nn.Linear:
    """A linear layer with orthogonal weights and zero bias (CleanRL's ``layer_init``)."""
    layer = nn.Linear(inputs, outputs)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class PolicyNet(nn.Module):
    """(map, features) -> (logits, value) for a batch of agents."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        c, h, w = cfg.map_shape
        hid = cfg.hidden
        if cfg.variant == "compact":
            self.conv: nn.Module | None = None
            trunk_in = c * h * w + cfg.n_features
        else:
            k = cfg.conv_channels
            self.conv = nn.Sequential(
                nn.Conv2d(c, k, 3, padding=1), nn.ReLU(),
                nn.Conv2d(k, 2 * k, 3, stride=2, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool2d(3), nn.Flatten(),
                _layer(2 * k * 9, hid), nn.ReLU())
            trunk_in = hid + cfg.n_features
        self.trunk = nn.Sequential(_layer(trunk_in, hid), nn.Tanh(), _layer(hid, hid), nn.Tanh())
        self.policy = _layer(hid, cfg.n_actions, gain=0.01)
        self.value = _layer(hid, 1, gain=1.0)

    def forward(self, map_: torch.Tensor, features: torch.Tensor):
        """Logits (B, A) and values (B,) for maps (B, C, H, W) and features (B, F)."""
        if self.conv is None:
            x = torch.cat([map_.flatten(1), features], 1)
        else:
            x = torch.cat([self.conv(map_), features], 1)
        z = self.trunk(x)
        return self.policy(z), self.value(z).squeeze(-1)


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits with disallowed actions at the dtype's minimum (probability 0, finite
    so entropy and log-probabilities stay NaN-free). Every row must allow one action."""
    return logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
