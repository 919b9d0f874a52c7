"""docs/rl.md names every channel, feature, reward component and info key the code has.

Only the info-key test needs the ``rl`` extra (gymnasium); it is skipped without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from townlet.config import default_config, with_agents
from townlet.rl.layout import (
    CHANNELS,
    LANDMARK_FIELDS,
    LANDMARKS,
    SELF_FEATURES,
    SOCIAL_AGGREGATES,
    SOCIAL_SLOT_FIELDS,
    SUMMARY_FEATURES,
    build_layout,
)
from townlet.rl.rewards import COMPONENTS

DOC = (Path(__file__).resolve().parent.parent / "docs" / "rl.md").read_text()
RANGES = ("goal_", "last_")  # listed as ranges ("goal_none … goal_home")


@pytest.mark.parametrize("name", [c for c, _ in CHANNELS] + list(COMPONENTS)
                         + list(SUMMARY_FEATURES) + list(SOCIAL_AGGREGATES) + list(LANDMARKS))
def test_named_in_docs(name):
    assert f"`{name}`" in DOC or name in DOC


def test_every_self_feature_is_documented():
    missing = [n for n in SELF_FEATURES if f"`{n}`" not in DOC and not n.startswith(RANGES)]
    assert not missing
    layout = build_layout(default_config())
    lo, hi = layout.blocks["affordance"]
    assert all(f"`{n}`" in DOC for n in layout.feature_names[lo:hi])
    for field in LANDMARK_FIELDS + SOCIAL_SLOT_FIELDS:
        assert f"_{field}`" in DOC


def test_every_info_key_is_documented():
    pytest.importorskip("gymnasium", reason="needs the rl extra")
    from townlet.rl import TownletVectorEnv

    env = TownletVectorEnv(with_agents(default_config(), 8))
    _, infos = env.reset(seed=0)
    _, _, _, _, infos = env.step(np.zeros(8, np.int64))
    missing = [k for k in infos if f"`{k}`" not in DOC and f'"{k}"' not in DOC]
    assert not missing
