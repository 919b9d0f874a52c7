"""``townlet snapshot`` as a real process: every sub-command, its JSON and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _snapshot_legacy import as_schema1

from townlet.snapshots import read_header
from townlet.snapshots.migrations import SCHEMA_VERSION

TOWNLET = [sys.executable, "-m", "townlet", "snapshot"]


def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess:
    out = subprocess.run([*TOWNLET, *args], capture_output=True, text=True, timeout=240,
                         check=False)
    assert out.returncode == code, (out.stdout, out.stderr)
    return out


def doc(*args: str) -> dict:
    return json.loads(cli(*args, "--json").stdout)


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> tuple[Path, Path]:
    """A config whose snapshot root holds base.tsnap (tick 50)."""
    tmp = tmp_path_factory.mktemp("cli")
    root = tmp / "snaps"
    cfg = tmp / "town.yaml"
    cfg.write_text(f"world:\n  town:\n    agents: 60\nsnapshots:\n  root: {root}\n")
    info = doc("save", "base.tsnap", "--config", str(cfg), "--ticks", "50", "--seed", "4")
    assert info["tick"] == 50 and info["path"] == str(root.resolve() / "base.tsnap")
    return cfg, root


def test_load_and_run_on_matches_a_straight_run(town) -> None:
    from townlet.config import load_config
    from townlet.world import World

    cfg, _ = town
    procs = [  # two fresh processes at once: the machine has two cores
        subprocess.Popen([*TOWNLET, *args, "--json"], stdout=subprocess.PIPE, text=True)
        for args in (("load", "base.tsnap", "--config", str(cfg), "--ticks", "30"),
                     ("save", "chained.tsnap", "--config", str(cfg), "--from", "base.tsnap",
                      "--ticks", "30"))
    ]
    resumed, chained = (json.loads(p.communicate(timeout=240)[0]) for p in procs)
    straight = World(load_config(cfg), seed=4)
    for _ in range(80):
        straight.step()
    assert resumed["tick"] == chained["tick"] == 80
    assert resumed["state_hash"] == chained["state_hash"] == straight.state_hash()


def test_inspect_json_and_table(town) -> None:
    _, root = town
    info = doc("inspect", "base.tsnap", "--root", str(root))
    assert info["tick"] == 50 and info["seed"] == 4 and info["origin"] == "manual"
    assert info["config"]["world"]["town"]["agents"] == 60
    assert {s["name"] for s in info["sections"]} >= {"agent_x", "rel_trust", "rng_key"}
    text = cli("inspect", "base.tsnap", "--root", str(root)).stdout
    assert "agent_needs" in text and "config_id" in text


def test_list_shows_snapshots_and_invalid_files(town) -> None:
    _, root = town
    (root / "broken.tsnap").write_bytes(b"nonsense")
    (root / "notes.txt").write_text("not a snapshot")
    try:
        rows = {r["name"]: r for r in doc("list", "--root", str(root))["snapshots"]}
    finally:
        (root / "broken.tsnap").unlink()
        (root / "notes.txt").unlink()
    assert rows["base.tsnap"]["tick"] == 50
    assert "wrong magic" in rows["broken.tsnap"]["error"]
    assert "notes.txt" not in rows


def test_verify_ok_and_tampered(town, tmp_path: Path) -> None:
    _, root = town
    assert doc("verify", "base.tsnap", "--root", str(root))["results"][0]["ok"]
    bad = root / "tampered.tsnap"
    raw = bytearray((root / "base.tsnap").read_bytes())
    entry = next(e for e in read_header(root / "base.tsnap").sections if e.name == "agent_wallet")
    raw[entry.offset] ^= 0xFF
    bad.write_bytes(bytes(raw))
    out = cli("verify", "base.tsnap", "tampered.tsnap", "--root", str(root), code=1)
    assert "base.tsnap: ok" in out.stdout
    assert "tampered.tsnap: FAILED" in out.stdout and "section 'agent_wallet'" in out.stdout
    bad.unlink()


def test_migrate_schema1_file(town) -> None:
    import msgspec

    from townlet.snapshots import open_snapshot, write_snapshot

    _, root = town
    snap = open_snapshot(root / "base.tsnap")
    write_snapshot(root / "v1.tsnap", msgspec.structs.replace(snap.header, schema_version=1),
                   as_schema1(snap.sections), overwrite=True)
    info = doc("migrate", "v1.tsnap", "sub/v2.tsnap", "--root", str(root))
    assert (info["from_schema"], info["to_schema"], info["target"]) == (
        1, SCHEMA_VERSION, "sub/v2.tsnap")
    assert info["applied"][0].startswith("1->2: split rel_value")
    header = read_header(root / "sub" / "v2.tsnap")
    assert header.schema_version == SCHEMA_VERSION and header.origin == "migrated"
    assert header.tick == 50
    cli("migrate", "v1.tsnap", "sub/v2.tsnap", "--root", str(root), code=2)  # exists
    cli("migrate", "v1.tsnap", "sub/v2.tsnap", "--root", str(root), "--overwrite")


def test_errors_exit_2_with_one_line(town, tmp_path: Path) -> None:
    cfg, root = town
    out = cli("inspect", "../escape.tsnap", "--root", str(root), code=2)
    assert "E_FORBIDDEN_PATH" in out.stderr and "Traceback" not in out.stderr
    out = cli("inspect", "missing.tsnap", "--root", str(root), code=2)
    assert "no such snapshot" in out.stderr
    pricey = tmp_path / "pricey.yaml"
    pricey.write_text(cfg.read_text().replace("world:\n", "world:\n  economy:\n    shower: 0.07\n"))
    out = cli("load", "base.tsnap", "--config", str(pricey), code=2)
    assert "world.economy.shower" in out.stderr and "--allow-config-mismatch" in out.stderr
    ok = doc("load", "base.tsnap", "--config", str(pricey), "--allow-config-mismatch")
    assert ok["tick"] == 50
    bad_cfg = tmp_path / "bad.yaml"
    bad_cfg.write_text("world:\n  town:\n    agents: -3\n")
    out = cli("load", "base.tsnap", "--config", str(bad_cfg), code=2)
    assert "world.town.agents" in out.stderr and "Traceback" not in out.stderr
    out = cli("save", "base.tsnap", "--config", str(cfg), code=2)
    assert "already exists" in out.stderr
