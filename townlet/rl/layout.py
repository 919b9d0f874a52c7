"""Observation layout: the one definition of map channels and feature names.

The Numba encoder (``townlet.rl.encode``) writes features in exactly the order
listed here; ``Layout`` exports names, offsets and a SHA-256 ``layout_hash``
over everything that changes the meaning of an observation, so datasets and
checkpoints can refuse a mismatch. Find a feature by name with
``layout.feature_index("need_hunger")`` and a block with ``layout.blocks``.
"""

from __future__ import annotations

import collections
import hashlib
import json

from msgspec import Struct

from townlet.config import TownletConfig
from townlet.config.world import NEEDS, OBJECT_TYPES, PRICES
from townlet.world.actions import Action, Goal, Shift
from townlet.world.state import TRAITS

__all__ = [
    "ACTION_NAMES",
    "CHANNEL",
    "CHANNELS",
    "CHANNEL_INDEX",
    "GOAL_FEATURES",
    "LANDMARK",
    "LANDMARKS",
    "LANDMARK_FIELDS",
    "LAST_ACTION_FEATURES",
    "LAYOUT_VERSION",
    "NEED_FEATURES",
    "PERSONALITY_FEATURES",
    "PRICE_FEATURES",
    "SELF",
    "SELF_FEATURES",
    "SHIFT_FEATURES",
    "SOCIAL_AGGREGATE",
    "SOCIAL_AGGREGATES",
    "SOCIAL_SLOT",
    "SOCIAL_SLOT_FIELDS",
    "SUMMARY",
    "SUMMARY_FEATURES",
    "VARIANTS",
    "VARIANT_CHANNELS",
    "Layout",
    "action_space_hash",
    "build_layout",
]

LAYOUT_VERSION = "townlet-obs-1"

CHANNELS: tuple[tuple[str, str], ...] = (
    ("walkable", "1 on street, floor and door tiles (0 outside the grid)"),
    ("door", "1 on building doors"),
    ("agents", "other living agents on the tile, min(count, agents_per_tile) / agents_per_tile"),
    ("friends", "sum over others on the tile of max(0, own trust in them), clamped to 1"),
    ("rivals", "sum over others on the tile of own rivalry toward them, clamped to 1"),
    ("objects", "1 where an object stands"),
    *((f"obj_{t}", f"1 where a {t} stands") for t in OBJECT_TYPES),
    ("busy", "1 where the object is held or has a queue"),
    ("queue", "agents queueing for the object, min(count, agents_per_tile) / agents_per_tile"),
    ("unusable", "1 where the object is disabled or lacks the power/water it needs"),
    ("own", "1 on the agent's own bed and the other objects of its home"),
)
"""Every map channel the encoder knows, in registry order."""

CHANNEL_INDEX = {name: i for i, (name, _) in enumerate(CHANNELS)}

VARIANT_CHANNELS: dict[str, tuple[str, ...]] = {
    "compact": ("walkable", "agents", "objects", "busy"),
    "hybrid": ("walkable", "agents", "objects", "busy", "own"),
    "full": tuple(name for name, _ in CHANNELS),
}
VARIANTS = tuple(VARIANT_CHANNELS)

NEED_FEATURES = tuple(f"need_{n}" for n in NEEDS)
SHIFT_FEATURES = tuple(f"shift_{s.name.lower()}" for s in Shift)
GOAL_FEATURES = tuple(f"goal_{g.name.lower()}" for g in Goal)
LAST_ACTION_FEATURES = tuple(f"last_{a.name.lower()}" for a in Action if a >= 0)
PERSONALITY_FEATURES = tuple(f"personality_{t}" for t in TRAITS)
PRICE_FEATURES = tuple(f"price_{p}" for p in PRICES if p != "none")
"""Groups of the self block indexed by a code (need, shift state, goal, action,
trait, price column - 1): one feature per code, in code order."""
SELF_FEATURES: tuple[str, ...] = (
    *NEED_FEATURES,
    "wallet", "food",
    "time_sin", "time_cos",
    "on_shift", *SHIFT_FEATURES,
    "shift_start_in", "shift_end_in",
    "attendance_ratio", "lateness", "wages_today", "wages_withheld",
    "embedding_slot_norm", "ctx_reset", "episode_progress", "age_days",
    "fainted", "possessed", "exit_pending", "option_active",
    *GOAL_FEATURES,
    *LAST_ACTION_FEATURES, "last_action_ok",
    "reservation_active", "in_queue", "aff_running", "aff_progress",
    *PERSONALITY_FEATURES,
    "power_on", "water_on",
    *PRICE_FEATURES,
    "rivalry_max", "rivalry_avoid_frac", "meet_active",
)
LANDMARKS = ("home", "work", "grocer", "cafe")
LANDMARK_FIELDS = ("dx", "dy", "dist", "inside", "step_n", "step_e", "step_s", "step_w")
SUMMARY_FEATURES = ("neighbor_agent_ratio", "neighbor_object_ratio", "busy_object_ratio",
                    "nearest_agent_closeness")
SOCIAL_SLOT_FIELDS = ("filled", "trust", "familiarity", "rivalry", "dist", "visible")
SOCIAL_AGGREGATES = ("social_trust_mean", "social_trust_max", "social_rivalry_mean",
                     "social_rivalry_max")


def _offsets(name: str, names) -> tuple[int, ...]:
    """``names`` as a namedtuple of their positions: compile-time constants for
    the Numba encoder (``SELF.wallet`` is the index of feature ``wallet``)."""
    return collections.namedtuple(name, names)(*range(len(names)))


# Positions by name, for the encoder: registry index of each map channel, and the
# offset of each feature inside its block (a landmark's block repeats per landmark,
# a social slot's per slot). Where each block starts depends on the config:
# ``Layout.blocks``.
CHANNEL = _offsets("ChannelIndex", CHANNEL_INDEX)
SELF = _offsets("SelfOffsets", SELF_FEATURES)
LANDMARK = _offsets("LandmarkOffsets", LANDMARK_FIELDS)
SUMMARY = _offsets("SummaryOffsets", SUMMARY_FEATURES)
SOCIAL_SLOT = _offsets("SocialSlotOffsets", SOCIAL_SLOT_FIELDS)
SOCIAL_AGGREGATE = _offsets("SocialAggregateOffsets", SOCIAL_AGGREGATES)


ACTION_NAMES = tuple(a.name.lower() for a in Action if a >= 0)
"""The fixed, ordered action space: index = ``townlet.world.actions.Action`` code."""


def action_space_hash() -> str:
    """SHA-256 of the ordered action names (store it with datasets and checkpoints)."""
    return hashlib.sha256(json.dumps(list(ACTION_NAMES)).encode()).hexdigest()


class Layout(Struct, frozen=True, kw_only=True):
    """Names, shapes and offsets of one observation layout."""

    version: str
    variant: str
    window: int
    map_channels: tuple[str, ...]
    feature_names: tuple[str, ...]
    social_slots: int
    blocks: dict[str, tuple[int, int]]
    """Feature block name -> (start, stop): self, affordance, landmarks, summary, social."""
    layout_hash: str

    @property
    def map_shape(self) -> tuple[int, int, int]:
        return (len(self.map_channels), self.window, self.window)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def feature_index(self, name: str) -> int:
        """Position of feature ``name`` in the feature vector."""
        try:
            return self.feature_names.index(name)
        except ValueError:
            raise KeyError(f"unknown feature {name!r} in layout {self.variant}/{self.version}; "
                           f"see Layout.feature_names") from None

    def channel_index(self, name: str) -> int:
        """Position of map channel ``name`` (KeyError if the variant lacks it)."""
        try:
            return self.map_channels.index(name)
        except ValueError:
            raise KeyError(f"variant {self.variant!r} has no map channel {name!r}; "
                           f"it has {', '.join(self.map_channels)}") from None


def _hash(variant: str, window: int, channels, features) -> str:
    doc = {"version": LAYOUT_VERSION, "variant": variant, "window": window,
           "map_channels": list(channels), "feature_names": list(features)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def build_layout(config: TownletConfig, variant: str | None = None) -> Layout:
    """The layout for a config (``variant`` overrides ``rl.observations.variant``)."""
    obs = config.rl.observations
    variant = obs.variant if variant is None else variant
    if variant not in VARIANT_CHANNELS:
        raise ValueError(f"unknown observation variant {variant!r}; use one of "
                         f"{', '.join(VARIANTS)}")
    window = obs.window(variant)
    slots = obs.top_friends + obs.top_rivals
    landmarks = tuple(f"{lm}_{f}" for lm in LANDMARKS for f in LANDMARK_FIELDS)
    social = tuple(f"social{s}_{f}" for s in range(slots) for f in SOCIAL_SLOT_FIELDS)
    social += SOCIAL_AGGREGATES if slots else ()
    affordances = tuple(f"aff_{a.id}" for a in config.world.affordances)
    features = SELF_FEATURES + affordances + landmarks + SUMMARY_FEATURES + social
    blocks, start = {}, 0
    for name, block in (("self", SELF_FEATURES), ("affordance", affordances),
                        ("landmarks", landmarks), ("summary", SUMMARY_FEATURES),
                        ("social", social)):
        blocks[name] = (start, start + len(block))
        start += len(block)
    channels = VARIANT_CHANNELS[variant]
    return Layout(version=LAYOUT_VERSION, variant=variant, window=window,
                  map_channels=channels, feature_names=features, social_slots=slots,
                  blocks=blocks, layout_hash=_hash(variant, window, channels, features))
