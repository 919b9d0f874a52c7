"""Observation layouts, their hashes, and the rl: config section loaded from YAML."""

from __future__ import annotations

import msgspec
import pytest

from townlet.config import ConfigError, TownletConfig, default_config, load_config
from townlet.rl.layout import (
    ACTION_NAMES,
    CHANNELS,
    SELF_FEATURES,
    VARIANT_CHANNELS,
    action_space_hash,
    build_layout,
)
from townlet.world.actions import N_ACTIONS, Action


def test_layouts_have_the_documented_shapes():
    cfg = default_config()
    hybrid = build_layout(cfg)
    assert hybrid.variant == "hybrid" and hybrid.map_shape == (5, 11, 11)
    assert build_layout(cfg, "full").map_shape == (len(CHANNELS), 11, 11)
    assert build_layout(cfg, "compact").map_shape == (4, 5, 5)
    n_aff = len(cfg.world.affordances)
    assert hybrid.n_features == len(SELF_FEATURES) + n_aff + 32 + 4 + 4 * 6 + 4
    assert hybrid.blocks["affordance"] == (len(SELF_FEATURES), len(SELF_FEATURES) + n_aff)
    assert hybrid.feature_names[len(SELF_FEATURES)] == "aff_eat_meal"
    assert hybrid.blocks["self"] == (0, len(SELF_FEATURES))
    assert hybrid.blocks["social"][1] == hybrid.n_features
    assert hybrid.feature_names[hybrid.feature_index("need_hunger")] == "need_hunger"
    assert len(set(hybrid.feature_names)) == hybrid.n_features
    for variant, channels in VARIANT_CHANNELS.items():
        assert build_layout(cfg, variant).map_channels == channels


def _with(**obs):
    raw = msgspec.to_builtins(default_config())
    raw["rl"]["observations"].update(obs)
    return msgspec.convert(raw, TownletConfig)


def test_layout_hash_changes_with_anything_that_changes_meaning():
    cfg = default_config()
    base = build_layout(cfg).layout_hash
    assert base == build_layout(cfg).layout_hash
    assert base != build_layout(cfg, "full").layout_hash
    assert base != build_layout(_with(hybrid_window=9)).layout_hash
    assert base != build_layout(_with(top_rivals=3)).layout_hash
    raw = msgspec.to_builtins(cfg)
    raw["world"]["affordances"][0]["id"] = "dine"
    assert base != build_layout(msgspec.convert(raw, TownletConfig)).layout_hash


def test_unknown_names_are_clear_errors():
    layout = build_layout(default_config(), "compact")
    with pytest.raises(KeyError, match="unknown feature 'nope'"):
        layout.feature_index("nope")
    with pytest.raises(KeyError, match="no map channel 'door'"):
        layout.channel_index("door")
    with pytest.raises(ValueError, match="unknown observation variant 'big'"):
        build_layout(default_config(), "big")


def test_action_space_is_fixed():
    assert len(ACTION_NAMES) == N_ACTIONS and ACTION_NAMES[Action.GO_EAT] == "go_eat"
    assert action_space_hash() == action_space_hash()


def test_rl_section_loads_from_yaml(tmp_path):
    path = tmp_path / "town.yaml"
    path.write_text("rl:\n  observations:\n    variant: full\n    full_window: 9\n"
                    "  rewards:\n    death_penalty: -3.0\n    clip:\n      per_tick: 0.5\n"
                    "  truncate_ticks: 0\n")
    cfg = load_config(path)
    assert cfg.rl.observations.variant == "full" and cfg.rl.observations.window() == 9
    assert cfg.rl.rewards.death_penalty == -3.0 and cfg.rl.rewards.clip.per_tick == 0.5


@pytest.mark.parametrize("text, message", [
    ("rl:\n  observations:\n    variant: tiny\n", "rl.observations.variant: invalid enum"),
    ("rl:\n  observations:\n    hybrid_window: 10\n", "hybrid_window must be odd"),
    ("rl:\n  observations:\n    top_friends: 5\n    top_rivals: 5\n", "must be <= 8"),
    ("rl:\n  rewards:\n    punctuality_bonus: 0.9\n    needs:\n      hunger: 0.5\n",
     "must not exceed needs.hunger"),
    ("rl:\n  rewards:\n    social:\n      stage: c2\n", "rl.rewards.social.stage"),
    ("rl:\n  rewards:\n    shaping:\n      use_potential: true\n", "unknown field shaping"),
    ("rl:\n  rewards:\n    curiosity: 0.02\n", "unknown field curiosity"),
    ("rl:\n  rewards:\n    death_penalty: 1.0\n", "rl.rewards.death_penalty"),
    ("observations:\n  variant: full\n", "unknown field observations"),
])
def test_bad_rl_config_names_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
