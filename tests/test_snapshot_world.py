"""Snapshots of the real World: exact resume across processes, all-or-nothing loads,
the schema 1 fixture, sandboxed names and autosave of a running town."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest
from _snapshot_damage import tamper, truncate
from _snapshot_legacy import SHOP_SECTIONS, as_schema1, as_schema5

from townlet.config import TownletConfig, default_config, dump_config, with_agents
from townlet.security.sandbox import ForbiddenPath
from townlet.snapshots import (
    ConfigMismatchError,
    PolicyIdentity,
    SnapshotError,
    SnapshotFormatError,
    SnapshotStateError,
    SnapshotVersionError,
    read_header,
    write_snapshot,
)
from townlet.snapshots.autosave import autosave_name
from townlet.snapshots.migration_steps import ROUTINE_SECTIONS
from townlet.snapshots.migrations import SCHEMA_VERSION
from townlet.snapshots.world_io import (
    autosave_hook,
    capture_world,
    load_into,
    resume_world,
    save_world,
    start_autosaver,
)
from townlet.world import World
from townlet.world.economy import treasury
from townlet.world.state import UNPLANNED, Today

SCENARIO = Path(__file__).with_name("_snapshot_scenario.py")
_spec = importlib.util.spec_from_file_location("_snapshot_scenario", SCENARIO)
scenario = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scenario)


def config(root: Path, agents: int = 200, **snap) -> TownletConfig:
    cfg = with_agents(default_config(), agents)
    return msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, root=str(root), **snap))


@pytest.fixture(scope="module")
def world_cfg(tmp_path_factory) -> TownletConfig:
    return config(tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="module")
def saved(world_cfg) -> tuple[World, str]:
    """A world at tick 300 saved as base.tsnap (shared, never modified)."""
    world = World(world_cfg, seed=5)
    scenario.advance(world, 300)
    save_world(world, "base.tsnap")
    return world, world.state_hash()


def _child(*args: str) -> list[dict]:
    out = subprocess.run([sys.executable, str(SCENARIO), *args], capture_output=True, text=True,
                         timeout=240, check=False)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_exact_resume_across_processes(tmp_path: Path) -> None:
    """Run N ticks, save, load in a fresh process, run M ⇒ the N+M straight-run hash."""
    cfg = config(tmp_path / "snaps")
    cfg_file = tmp_path / "town.yaml"
    cfg_file.write_text(dump_config(cfg))
    n, m = 700, 500
    [at_save] = _child("save", str(cfg_file), "mid.tsnap", "11", str(n))
    assert at_save["tick"] == n and at_save["ties"] > 0 and at_save["perturbations"] >= 2
    loaded, resumed = _child("resume", str(cfg_file), "mid.tsnap", str(m))
    assert loaded["loaded"] == at_save  # the load itself is exact
    straight = World(cfg, seed=11)
    scenario.advance(straight, n + m)
    assert resumed == scenario.summary(straight)
    assert resumed["tick"] == n + m


def test_save_load_identity_and_header(tmp_path: Path, saved, world_cfg) -> None:
    world, _ = saved
    ident = PolicyIdentity(policy_hash="0f" * 20, observation_variant="full", anneal_ratio=0.5)
    path, h = save_world(world, "ident.tsnap", identity=ident)
    assert path == Path(world_cfg.snapshots.root).resolve() / "ident.tsnap"
    assert read_header(path) == h
    assert (h.tick, h.seed, h.config_id, h.schema_version) == (300, 5, world.config_id,
                                                              SCHEMA_VERSION)
    assert h.identity == ident and msgspec.json.decode(h.config)["town"]["agents"] == 200
    assert [e.name for e in h.sections] == list(world.sections())


def test_invalid_identity_writes_nothing(saved, world_cfg) -> None:
    world, _ = saved
    with pytest.raises(SnapshotError, match="policy_hash"):
        save_world(world, "bad-ident.tsnap", identity=PolicyIdentity(policy_hash="xyz"))
    assert not (Path(world_cfg.snapshots.root) / "bad-ident.tsnap").exists()




BAD_FILES = [
    ("tampered", lambda p: tamper(p, "rel_trust"), SnapshotFormatError, "section 'rel_trust'"),
    ("truncated", lambda p: truncate(p, "agent_needs"), SnapshotFormatError,
     "section 'agent_needs': truncated"),
    ("magic", lambda p: p.write_bytes(b'{"schema_version": "1.5"}'), SnapshotFormatError,
     "wrong magic"),
]


@pytest.mark.parametrize("label, damage, error, match", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_leaves_the_running_world_untouched(tmp_path, saved, world_cfg, label, damage,
                                                     error, match) -> None:
    root = Path(world_cfg.snapshots.root)
    (root / f"{label}.tsnap").write_bytes((root / "base.tsnap").read_bytes())
    damage(root / f"{label}.tsnap")
    running = World(world_cfg, seed=9)
    scenario.advance(running, 40)
    before, arrays = running.state_hash(), running.sections()
    with pytest.raises(error, match=match):
        load_into(running, f"{label}.tsnap")
    assert running.state_hash() == before
    assert all(running.sections()[k] is v for k, v in arrays.items())  # nothing swapped in


def test_future_schema_is_refused(saved, world_cfg) -> None:
    world, _ = saved
    header, sections = capture_world(world)
    path = Path(world_cfg.snapshots.root) / "future.tsnap"
    write_snapshot(path, msgspec.structs.replace(header, schema_version=SCHEMA_VERSION + 1),
                   sections, overwrite=True)
    with pytest.raises(SnapshotVersionError, match="newer than this build"):
        resume_world("future.tsnap", world_cfg)


def test_config_mismatch_refused_then_allowed(saved, world_cfg) -> None:
    digest = saved[1]
    other = msgspec.structs.replace(world_cfg, world=msgspec.structs.replace(
        world_cfg.world, economy=msgspec.structs.replace(world_cfg.world.economy, shower=0.07)))
    with pytest.raises(ConfigMismatchError) as info:
        resume_world("base.tsnap", other)
    assert info.value.keys == ["world.economy.shower"]
    resumed = resume_world("base.tsnap", other, allow_config_mismatch=True)
    assert resumed.tick == 300 and resumed.state_hash() == digest


def test_mismatch_in_size_names_the_section(saved, world_cfg) -> None:
    smaller = msgspec.structs.replace(with_agents(world_cfg, 100), snapshots=world_cfg.snapshots)
    running = World(smaller, seed=5)
    before = running.state_hash()
    with pytest.raises(ConfigMismatchError, match=r"world\.town\.agents"):
        load_into(running, "base.tsnap")
    with pytest.raises(SnapshotStateError, match="this world needs") as info:
        load_into(running, "base.tsnap", allow_config_mismatch=True)
    assert info.value.section == next(iter(running.sections()))
    assert running.state_hash() == before


@pytest.mark.parametrize("name", ["../base.tsnap", "/etc/passwd", "a/../../x", "nul\x00.tsnap"])
def test_names_outside_the_root_are_forbidden(world_cfg, saved, name: str) -> None:
    with pytest.raises(ForbiddenPath):
        resume_world(name, world_cfg)
    with pytest.raises(ForbiddenPath):
        save_world(saved[0], name)


def test_symlink_out_of_the_root_is_forbidden(tmp_path: Path, world_cfg, saved) -> None:
    outside = tmp_path / "outside.tsnap"
    outside.write_bytes((Path(world_cfg.snapshots.root) / "base.tsnap").read_bytes())
    link = Path(world_cfg.snapshots.root) / "link.tsnap"
    link.symlink_to(outside)
    with pytest.raises(ForbiddenPath, match="leaves the snapshot root"):
        resume_world("link.tsnap", world_cfg)


def test_missing_file_is_a_clear_error(world_cfg) -> None:
    with pytest.raises(SnapshotError, match="no such snapshot"):
        resume_world("nothing-here.tsnap", world_cfg)


def write_schema1(world: World, path: Path) -> None:
    """The old layout: one signed score per tie (``rel_value``) instead of three arrays."""
    header, sections = capture_world(world)
    write_snapshot(path, msgspec.structs.replace(header, schema_version=1), as_schema1(sections),
                   overwrite=True)


def test_schema1_fixture_resumes_after_migration(saved, world_cfg) -> None:
    world, _ = saved
    write_schema1(world, Path(world_cfg.snapshots.root) / "v1.tsnap")
    assert read_header(Path(world_cfg.snapshots.root) / "v1.tsnap").schema_version == 1
    resumed = resume_world("v1.tsnap", world_cfg)
    live, got = world.sections(), resumed.sections()
    tie = live["rel_other"] >= 0
    assert tie.any()
    assert np.array_equal(got["rel_trust"], np.where(tie, live["rel_trust"], 0))
    assert not got["rel_fam"].any() and not got["rel_riv"].any()
    for name in set(live) - {"rel_trust", "rel_fam", "rel_riv", "ledger", "agent_favourite",
                             *ROUTINE_SECTIONS, *SHOP_SECTIONS, "stats"}:
        assert np.array_equal(got[name], live[name]), name
    assert (got["agent_favourite"] == -1).all(), "saved before favourites: the district's cafe"
    # a schema 1 file has no treasury: the migration books it at its reserve (schema 7)
    assert np.array_equal(got["ledger"][:-1], live["ledger"][:-1])
    old_stats = len(live["stats"]) - 6  # neglect and sell-out counters start with schema 8
    assert np.array_equal(got["stats"][:old_stats], live["stats"][:old_stats])
    assert treasury(got["ledger"]) == resumed.params.treasury_target
    scenario.advance(resumed, 400)  # the migrated town runs on
    assert resumed.tick == 400


def test_schema5_fixture_draws_the_same_routines_on_its_first_tick(saved, world_cfg) -> None:
    """Routines are drawn from (slot, generation) and (slot, day): a town saved before
    they existed gets, one tick after the load, the routines it would have had."""
    world, _ = saved
    header, sections = capture_world(world)
    path = Path(world_cfg.snapshots.root) / "v5.tsnap"
    write_snapshot(path, msgspec.structs.replace(header, schema_version=5),
                   as_schema5(sections), overwrite=True)
    resumed = resume_world("v5.tsnap", world_cfg)
    assert (resumed.view("agent_today")[:, Today.WORKS] == UNPLANNED).all()
    write_snapshot(path.with_name("v6.tsnap"), header, sections, overwrite=True)
    straight = resume_world("v6.tsnap", world_cfg)
    resumed.step()
    straight.step()
    alive = straight.view("agent_alive").astype(bool)
    for name in ROUTINE_SECTIONS:
        assert np.array_equal(resumed.view(name)[alive], straight.view(name)[alive]), name


def test_autosave_of_a_running_world(tmp_path: Path) -> None:
    cfg = config(tmp_path / "auto", agents=60, autosave_every=50, keep_last=2)
    world = World(cfg, seed=2)
    ident = PolicyIdentity(observation_variant="full", anneal_ratio=0.3)
    hook = autosave_hook(cfg, identity=lambda: ident)
    assert hook is not None
    hashes = {}
    while world.tick < 230:
        hook.before(world)
        scenario.advance(world, world.tick + 1)
        hook.after(world)
        hook.saver.flush()
        hashes[world.tick] = world.state_hash()
    hook.close()
    root = Path(cfg.snapshots.root)
    assert sorted(p.name for p in root.iterdir()) == [autosave_name(150), autosave_name(200)]
    assert hook.saver.stats.saved == 4 and hook.saver.stats.pruned == 2
    assert read_header(root / autosave_name(200)).identity == ident
    assert resume_world(autosave_name(200), cfg).state_hash() == hashes[200]
    off = config(tmp_path / "off", agents=60)
    assert start_autosaver(off) is None and autosave_hook(off) is None


def test_resaving_the_same_state_gives_the_same_sections(saved) -> None:
    """Sections are written verbatim: same state => same section digests."""
    world, _ = saved
    a = save_world(world, "r1.tsnap")[1]
    b = save_world(world, "r2.tsnap")[1]
    assert [e.checksum for e in a.sections] == [e.checksum for e in b.sections]
    root = Path(world.config.snapshots.root)
    assert os.path.getsize(root / "r1.tsnap") == os.path.getsize(root / "r2.tsnap")
