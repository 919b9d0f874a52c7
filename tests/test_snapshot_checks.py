"""Config-mismatch refusal with the differing keys, and the section fit gate."""

from __future__ import annotations

import logging
import re

import msgspec
import numpy as np
import pytest

from townlet.config import config_id, default_config, with_agents
from townlet.snapshots import ConfigMismatchError, SnapshotHeader, SnapshotStateError
from townlet.snapshots.checks import check_config, check_fits
from townlet.snapshots.configdiff import canonical_config, diff_config_json, diff_keys


def header_for(cfg) -> SnapshotHeader:
    return SnapshotHeader(format_version=1, schema_version=2, config_id=config_id(cfg),
                          config=canonical_config(cfg), tick=0, seed=0, created_at="t")


def test_canonical_config_hashes_to_config_id() -> None:
    import hashlib

    cfg = default_config()
    assert hashlib.sha256(canonical_config(cfg).encode()).hexdigest()[:16] == config_id(cfg)
    served = msgspec.structs.replace(cfg, snapshots=msgspec.structs.replace(
        cfg.snapshots, root="elsewhere", autosave_every=500))
    assert canonical_config(served) == canonical_config(cfg)  # serving settings don't count


def test_diff_keys_names_paths() -> None:
    a = {"world": {"town": {"agents": 10}, "jobs": [{"wage": 1}, {"wage": 2}], "x": 1}}
    b = {"world": {"town": {"agents": 20}, "jobs": [{"wage": 1}, {"wage": 3}, {"wage": 4}],
                   "y": 1}}
    assert diff_keys(a, b) == ["world.jobs[1].wage", "world.jobs[2]", "world.town.agents",
                               "world.x", "world.y"]
    assert diff_keys(a, a) == [] and diff_keys(1, 1.0) == ["<root>"]


def test_same_config_passes() -> None:
    cfg = default_config()
    assert check_config(header_for(cfg), config_id(cfg), canonical_config(cfg),
                        allow_config_mismatch=False) == []


def test_mismatch_is_refused_with_the_differing_keys() -> None:
    old = default_config()
    new = with_agents(msgspec.structs.replace(
        old, world=msgspec.structs.replace(
            old.world, economy=msgspec.structs.replace(old.world.economy, groceries=1.5))), 50)
    with pytest.raises(ConfigMismatchError) as info:
        check_config(header_for(old), config_id(new), canonical_config(new),
                     allow_config_mismatch=False)
    assert info.value.keys == ["world.economy.groceries", "world.town.agents"]
    text = str(info.value)
    assert "world.economy.groceries, world.town.agents" in text
    assert "--allow-config-mismatch" in text and config_id(old) in text


def test_mismatch_allowed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    old, new = default_config(), with_agents(default_config(), 50)
    with caplog.at_level(logging.WARNING, logger="townlet.snapshots"):
        keys = check_config(header_for(old), config_id(new), canonical_config(new),
                            allow_config_mismatch=True)
    assert keys == ["world.town.agents"]
    assert "world.town.agents" in caplog.text and "allowed" in caplog.text


def test_snapshot_without_config_still_refused() -> None:
    h = msgspec.structs.replace(header_for(default_config()), config="", config_id="0" * 16)
    with pytest.raises(ConfigMismatchError, match="unknown: the snapshot carries no config"):
        check_config(h, "1" * 16, "{}", allow_config_mismatch=False)
    assert diff_config_json("", "{}") == []


LIVE = {"a": np.zeros(3, np.int32), "b": np.zeros((2, 2), np.float32)}


@pytest.mark.parametrize(
    "sections, section, reason",
    [
        ({"b": LIVE["b"]}, "a", "missing"),
        ({"a": np.zeros(3, np.int64), "b": LIVE["b"]}, "a", "int64(3,)"),
        ({"a": LIVE["a"], "b": np.zeros((2, 3), np.float32)}, "b", "(2, 3)"),
        ({**LIVE, "c": np.zeros(1)}, "c", "not part of this world"),
    ],
)
def test_fit_gate_names_the_section(sections, section: str, reason: str) -> None:
    with pytest.raises(SnapshotStateError, match=re.escape(reason)) as info:
        check_fits(sections, LIVE)
    assert info.value.section == section


def test_fit_gate_accepts_exact_match() -> None:
    check_fits({k: v.copy() for k, v in LIVE.items()}, LIVE)
