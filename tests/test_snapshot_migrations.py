"""Schema migrations on plain arrays and through real files."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from townlet.snapshots import (
    SnapshotHeader,
    SnapshotStateError,
    SnapshotVersionError,
    open_snapshot,
    write_snapshot,
)
from townlet.snapshots.migrations import OLDEST_SCHEMA, SCHEMA_VERSION, migrate, registry
from townlet.world.state import UNPLANNED, Habit, Today


def header(schema: int) -> SnapshotHeader:
    return SnapshotHeader(format_version=0, schema_version=schema, config_id="c", tick=5,
                          seed=1, created_at="2026-01-01T00:00:00Z")


def schema1_sections() -> dict[str, np.ndarray]:
    other = np.array([[1, -1, 2], [0, -1, -1], [-1, -1, -1]], np.int32)
    value = np.array([[0.5, 0.9, -0.25], [0.75, 0.0, 0.0], [0.3, 0.0, 0.0]], np.float32)
    return {"agent_x": np.arange(3, dtype=np.int16), "rel_other": other, "rel_value": value}


def test_registry_is_a_contiguous_chain() -> None:
    steps = registry()
    assert sorted(steps) == list(range(OLDEST_SCHEMA, SCHEMA_VERSION))
    for source, step in steps.items():
        assert step.source == source and step.description


def test_schema1_relationship_score_becomes_trust() -> None:
    old = schema1_sections()
    h, new = migrate(header(1), old)
    assert h.schema_version == SCHEMA_VERSION
    step = "1->2: split rel_value into rel_trust, rel_fam, rel_riv (old score read as trust)"
    assert h.migrations[0] == step and len(h.migrations) == SCHEMA_VERSION - 1
    assert "rel_value" not in new and {"agent_x", "rel_other", "rel_trust", "rel_fam",
                                       "rel_riv"} <= set(new)
    tie = old["rel_other"] >= 0
    assert np.array_equal(new["rel_trust"][tie], old["rel_value"][tie])
    assert np.all(new["rel_trust"][~tie] == 0)  # stale scores of empty slots are dropped
    for name in ("rel_trust", "rel_fam", "rel_riv"):
        assert new[name].dtype == np.float32 and new[name].shape == old["rel_other"].shape
    assert not new["rel_fam"].any() and not new["rel_riv"].any()
    assert "rel_value" in old  # input untouched


def test_schema2_gets_a_closed_event_batch() -> None:
    """Schema 2 loads always started a new event batch; the step keeps that meaning."""
    old = {"evt_len": np.array([3], np.int32)}
    h, new = migrate(header(2), old)
    assert h.migrations[0].startswith("2->3: add evt_stale")
    assert new["evt_stale"].tolist() == [1] and new["evt_stale"].dtype == np.uint8
    with pytest.raises(SnapshotStateError, match="evt_stale"):
        migrate(header(2), {**old, "evt_stale": np.zeros(1, np.uint8)})


def test_schema3_money_becomes_exact_minor_units() -> None:
    """Float wallets and ledger that drifted apart become int64 minor units; the residue
    goes to the initial account, so the ledger balances exactly."""
    wallet = np.array([1.1, 2.200001, 0.3, 9.0])  # the dead slot's 9.0 does not count
    alive = np.array([1, 1, 1, 0], np.uint8)
    ledger = np.array([3.5, 0.1, 0.0, 0.0, 0.0, 0.0])  # 3.6 booked, 3.600001 held
    old = {"agent_wallet": wallet, "agent_alive": alive, "ledger": ledger,
           "agent_wages_today": np.array([0.006, 0, 0, 0], np.float32),
           "price_now": np.array([0.0, 0.5, 0.75, 0.1])}
    h, new = migrate(header(3), old)
    assert h.migrations[0].startswith("3->4: money in int64 minor units")
    assert new["agent_wallet"].tolist() == [1_100_000, 2_200_001, 300_000, 9_000_000]
    assert new["agent_wages_today"].tolist() == [6_000, 0, 0, 0]
    assert new["price_now"].dtype == np.int64 and new["price_now"][2] == 750_000
    assert new["ledger"].tolist()[:6] == [3_500_001, 100_000, 0, 0, 0, 0]
    assert old["ledger"][0] == 3.5  # input untouched
    with pytest.raises(SnapshotStateError, match="agent_wallet"):
        migrate(header(3), {**old, "agent_wallet": np.array([np.nan, 0, 0, 0])})
    with pytest.raises(SnapshotStateError, match="expected float money"):
        migrate(header(3), {**old, "ledger": np.zeros(6, np.int64)})


def test_schema4_exit_ring_grows_to_a_slot_per_agent_and_levers_come_from_the_config() -> None:
    from townlet.world.state import Ctl, ExitMeta

    ring = np.full(64, -1, np.int32)
    ring[62], ring[63], ring[0] = 5, 6, 7  # three waiting agents, wrapped around the ring
    old = {"exit_queue": ring, "exit_meta": np.array([62, 3, 1, 700], np.int32),
           "agent_alive": np.ones(100, np.uint8)}
    h = msgspec.structs.replace(header(4), config='{"employment": {"daily_exit_cap": 5}}')
    h, new = migrate(h, old)
    assert h.migrations[0].startswith("4->5")
    assert new["exit_queue"].shape == (100,) and new["exit_queue"][:4].tolist() == [5, 6, 7, -1]
    assert new["exit_meta"].tolist() == [0, 3, 1, 700, 1]
    assert new["ctl"][Ctl.EXIT_CAP] == 5 and new["ctl"][Ctl.MORTALITY] == 1
    assert new["ctl"][Ctl.RESPAWN_DELAY] == 10  # the default: the header's config lacks it
    assert len(new["exit_meta"]) == len(ExitMeta)
    with pytest.raises(SnapshotStateError, match="exit_meta"):
        migrate(header(4), {**old, "exit_meta": np.array([64, 3, 1, 700], np.int32)})


def test_schema4_gets_unplanned_routines() -> None:
    old = {"agent_alive": np.array([1, 0, 1], np.uint8)}
    h, new = migrate(header(5), old)
    assert h.migrations[0].startswith("5->6: add agent_habits")
    assert new["agent_habits"].shape == (3, len(Habit)) and not new["agent_habits"].any()
    assert new["agent_roster"].dtype == np.int16 and not new["agent_roster"].any()
    assert (new["agent_today"][:, Today.WORKS] == UNPLANNED).all()
    with pytest.raises(SnapshotStateError, match="agent_today"):
        migrate(header(5), {**old, "agent_today": new["agent_today"]})


def test_schema6_gets_a_treasury_at_its_reserve() -> None:
    from townlet.world.economy import treasury
    from townlet.world.state import Econ, Ledger, expected_money

    ledger = np.array([4_000, 900, 300, 50, 20, 70], np.int64)  # initial, wages, ... departed
    old = {"ledger": ledger, "agent_alive": np.array([1, 1, 0], np.uint8),
           "agent_wallet": np.array([2_000, 2_500, 0], np.int64)}
    h = msgspec.structs.replace(header(6), config='{"economy": {"treasury_per_agent": 0.001}}')
    h, new = migrate(h, old)
    assert h.migrations[0] == "6->7: " + registry()[6].description
    assert new["ledger"].shape == (len(Ledger),) and new["ledger"][Ledger.RENT] == 0
    assert treasury(new["ledger"]) == 3 * 1_000  # the reserve: per agent x slots
    assert expected_money(new["ledger"]) == 4_000 + 900 + 20 - 300 - 50 - 70
    assert not new["econ"].any() and new["econ"].shape == (len(Econ),)
    with pytest.raises(SnapshotStateError, match="ledger"):
        migrate(header(6), {**old, "ledger": np.zeros(8, np.int64)})


def test_schema7_gets_neglect_counts_and_a_clean_exit_ring() -> None:
    from townlet.snapshots.migration_steps import NEGLECT_STATS, SHOP_STATS
    from townlet.world.actions import Flag
    from townlet.world.state import NEEDS, STAT, ExitMeta, Need

    pending = Flag.EXIT_PENDING
    ring = np.array([-1, 2, 0, 1, 2], np.int32)  # head 1: 2, 0 (killed), 1 (not flagged), 2
    old = {"agent_starving": np.array([0, 7, 3], np.int16),
           "agent_alive": np.array([0, 1, 1], np.uint8),
           "agent_flags": np.array([pending, 0, pending], np.uint8),
           "stats": np.arange(15, dtype=np.int64),  # schema 7's counters
           "exit_queue": ring, "exit_meta": np.array([1, 4, 0, 0, 0], np.int32)}
    h, new = migrate(header(7), old)
    assert h.migrations == ("7->8: " + registry()[7].description,)
    assert "agent_starving" not in new and new["agent_neglect"].shape == (3, len(NEEDS))
    assert new["agent_neglect"][:, Need.HUNGER].tolist() == [0, 7, 3]
    assert not new["agent_neglect"][:, Need.HUNGER + 1:].any()
    assert new["stats"].tolist() == [*range(15), *[0] * (len(NEGLECT_STATS) + len(SHOP_STATS))]
    assert len(new["stats"]) == len(STAT)
    assert new["agent_favourite"].tolist() == [-1, -1, -1]
    assert new["exit_queue"].tolist() == [2, -1, -1, -1, -1]
    assert new["exit_meta"][ExitMeta.HEAD] == 0 and new["exit_meta"][ExitMeta.LENGTH] == 1
    with pytest.raises(SnapshotStateError, match="agent_starving"):
        migrate(header(7), {**old, "agent_starving": np.zeros((3, 2), np.int16)})


def test_schema7_shops_charge_the_town_price_and_count_no_sell_outs() -> None:
    from townlet.world.state import STAT, St

    old = {"bld_kind": np.array([1, 2, 3, 0], np.int8), "stats": np.arange(15, dtype=np.int64)}
    h, new = migrate(header(7), old)
    assert h.migrations == ("7->8: " + registry()[7].description,)
    for name in ("shop_level", "shop_markup"):
        assert new[name].dtype == np.int32 and (new[name] == 1000).all() and new[name].size == 4
    assert new["stats"].shape == (len(STAT),) and new["stats"][St.SOLD_OUT] == 0
    assert (new["stats"][:15] == old["stats"]).all()
    with pytest.raises(SnapshotStateError, match="shop_level"):
        migrate(header(7), {**old, "shop_level": np.zeros(4, np.int32)})


def test_schema7_perturbation_table_grows_per_district() -> None:
    from townlet.world.state import PertMeta, pert_slots

    kind = np.full(16, -1, np.int8)
    kind[3] = 1  # an active blackout in slot 3
    old = {"district_power": np.ones(5, np.uint8), "pert_kind": kind,
           "pert_agents": np.full((16, 2), -1, np.int32),
           "pert_mag": np.ones(16, np.float64), "pert_spec_cool": np.array([10, 20], np.int32),
           "pert_meta": np.array([7, 300], np.int32)}
    h = msgspec.structs.replace(header(7), config='{"perturbations": {"max_concurrent": 3}}')
    _, new = migrate(h, old)
    slots = pert_slots(3, 5)
    assert new["pert_kind"].shape == (slots,) and new["pert_kind"][3] == 1
    assert (new["pert_kind"][16:] == -1).all() and (new["pert_mag"][16:] == 1.0).all()
    assert new["pert_agents"].shape == (slots, 2)
    assert (new["pert_spec_cool"] == [[10] * 5, [20] * 5]).all()
    assert (new["pert_last"] == old["pert_meta"][PertMeta.LAST_SCHEDULED]).all()
    with pytest.raises(SnapshotStateError, match="pert_kind"):
        migrate(header(7), {**old, "pert_kind": np.full(20, -1, np.int8)})


def test_current_schema_is_returned_unchanged() -> None:
    secs = {"a": np.zeros(2)}
    h, out = migrate(header(SCHEMA_VERSION), secs)
    assert h.migrations == () and out["a"] is secs["a"]


def test_future_schema_is_refused() -> None:
    with pytest.raises(SnapshotVersionError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        migrate(header(SCHEMA_VERSION + 1), {})


def test_schema_without_a_step_is_refused() -> None:
    with pytest.raises(SnapshotVersionError, match="no step 0->1 is registered"):
        migrate(header(0), {})


@pytest.mark.parametrize(
    "edit, section",
    [
        (lambda s: s.pop("rel_value"), "rel_value"),
        (lambda s: s.pop("rel_other"), "rel_other"),
        (lambda s: s.__setitem__("rel_trust", np.zeros((3, 3), np.float32)), "rel_trust"),
        (lambda s: s.__setitem__("rel_value", np.zeros((3, 3), np.float64)), "rel_value"),
        (lambda s: s.__setitem__("rel_value", np.zeros((3, 2), np.float32)), "rel_value"),
    ],
)
def test_malformed_schema1_names_the_section(edit, section: str) -> None:
    secs = schema1_sections()
    edit(secs)
    with pytest.raises(SnapshotStateError) as info:
        migrate(header(1), secs)
    assert info.value.section == section


def test_schema1_file_migrates_on_read(tmp_path: Path) -> None:
    path = tmp_path / "old.tsnap"
    write_snapshot(path, header(1), schema1_sections(), overwrite=False)
    snap = open_snapshot(path)
    h, new = migrate(snap.header, snap.sections)
    assert h.schema_version == SCHEMA_VERSION and h.tick == 5
    assert np.array_equal(new["rel_trust"][0], [0.5, 0.0, -0.25])
