"""Listing, verifying and migrating files inside a snapshot root (shared by CLI and console)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from townlet.security.sandbox import ForbiddenPath
from townlet.snapshots import SnapshotHeader, read_header, write_snapshot
from townlet.snapshots.catalog import list_snapshots, migrate_file, verify_file
from townlet.snapshots.migrations import SCHEMA_VERSION


def put(path: Path, tick: int, created: str, schema: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sections = {"rel_other": np.array([[1, -1]], np.int32)}
    sections["rel_value" if schema == 1 else "rel_trust"] = np.array([[0.5, 0.2]], np.float32)
    if schema == 2:
        sections |= {k: np.zeros((1, 2), np.float32) for k in ("rel_fam", "rel_riv")}
    write_snapshot(path, SnapshotHeader(format_version=0, schema_version=schema, config_id="c",
                                        tick=tick, seed=0, created_at=created), sections,
                   overwrite=False)


def test_list_is_recursive_sorted_and_skips_hidden_links_and_strangers(tmp_path: Path) -> None:
    put(tmp_path / "b.tsnap", 20, "2026-01-02T00:00:00.000000Z")
    put(tmp_path / "sub" / "a.tsnap", 10, "2026-01-01T00:00:00.000000Z")
    put(tmp_path / ".hidden" / "c.tsnap", 30, "2026-01-03T00:00:00.000000Z")
    (tmp_path / ".x.tsnap.tmp-1-abcdef01").write_bytes(b"partial")
    (tmp_path / "readme.txt").write_text("hello")
    (tmp_path / "cut.tsnap").write_bytes((tmp_path / "b.tsnap").read_bytes()[:100])
    (tmp_path / "link.tsnap").symlink_to(tmp_path / "b.tsnap")
    rows = list_snapshots(tmp_path)
    assert [r.name for r in rows] == ["cut.tsnap", "sub/a.tsnap", "b.tsnap"]
    assert rows[0].error.startswith("header: truncated") and rows[1].tick == 10
    assert msgspec.json.decode(msgspec.json.encode(rows[2]))["origin"] == "manual"


def test_verify_reports_instead_of_raising(tmp_path: Path) -> None:
    put(tmp_path / "ok.tsnap", 1, "t")
    assert verify_file(tmp_path, "ok.tsnap").ok
    bad = verify_file(tmp_path, "../ok.tsnap")
    assert not bad.ok and "'..'" in bad.error
    assert "no such snapshot" in verify_file(tmp_path, "missing.tsnap").error


def test_migrate_file(tmp_path: Path) -> None:
    put(tmp_path / "v1.tsnap", 7, "t", schema=1)
    result = migrate_file(tmp_path, "v1.tsnap", "out/v2.tsnap")
    assert (result.from_schema, result.to_schema, result.target) == (
        1, SCHEMA_VERSION, "out/v2.tsnap")
    h = read_header(tmp_path / "out" / "v2.tsnap")
    assert h.origin == "migrated" and h.tick == 7 and h.migrations == tuple(result.applied)
    again = migrate_file(tmp_path, "out/v2.tsnap", "out/v2b.tsnap")
    assert again.applied == [] and again.from_schema == SCHEMA_VERSION
    with pytest.raises(ForbiddenPath):
        migrate_file(tmp_path, "v1.tsnap", "/tmp/escape.tsnap")
