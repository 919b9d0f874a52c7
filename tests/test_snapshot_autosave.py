"""Autosave cadence, retention (never an operator's file), busy skips and failures."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import msgspec
import numpy as np
import pytest

from townlet.snapshots import SnapshotHeader, open_snapshot, read_header, write_snapshot
from townlet.snapshots.autosave import Autosaver, autosave_name, prune_autosaves


def header(tick: int, created: str = "2026-01-01T00:00:00.000000Z", origin="manual"):
    return SnapshotHeader(format_version=0, schema_version=2, config_id="c", tick=tick, seed=3,
                          created_at=created, origin=origin)


class Frame:
    """A tiny state whose capture counts its calls."""

    def __init__(self, size: int = 16) -> None:
        self.tick = 0
        self.data = np.zeros(size, np.float64)
        self.captured: list[int] = []
        self.spares: list[dict | None] = []
        self.frames: list[dict] = []

    def capture(self, spare):
        self.captured.append(self.tick)
        self.spares.append(spare)
        frame = spare if spare is not None else {"data": np.empty_like(self.data),
                                                 "clock": np.zeros(1, np.int64)}
        frame["data"][:] = self.data
        frame["clock"][0] = self.tick
        self.frames.append(frame)
        created = f"2026-01-01T00:00:{len(self.captured):02d}.000000Z"
        return header(self.tick, created=created), frame


def test_cadence_and_retention(tmp_path: Path) -> None:
    write_snapshot(tmp_path / "keep-me.tsnap", header(1), {"a": np.zeros(1)}, overwrite=False)
    write_snapshot(tmp_path / autosave_name(1), header(1), {"a": np.zeros(1)}, overwrite=False)
    frame = Frame()
    with Autosaver(tmp_path, every=5, keep_last=2) as saver:
        for t in range(1, 24):
            frame.tick = t
            frame.data[:] = t
            saver.offer(t, frame.capture)
            saver.flush()  # deterministic for the test; the loop never waits
    assert frame.captured == [5, 10, 15, 20]
    # the frame of a finished autosave is handed back for the next capture (no allocation)
    assert frame.spares[0] is None and all(s is frame.frames[0] for s in frame.spares[1:])
    assert saver.stats.saved == 4 and saver.stats.pruned == 2 and saver.stats.failed == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    # the operator's files survive, even one named like an autosave (its header says manual)
    assert names == [autosave_name(1), autosave_name(15), autosave_name(20), "keep-me.tsnap"]
    s = open_snapshot(tmp_path / autosave_name(20))
    assert s.header.origin == "autosave" and np.all(s.sections["data"] == 20)


def test_disabled_never_captures(tmp_path: Path) -> None:
    frame = Frame()
    with Autosaver(tmp_path, every=0, keep_last=3) as saver:
        for t in range(1, 50):
            assert not saver.offer(t, frame.capture)
    assert frame.captured == [] and list(tmp_path.iterdir()) == []


def test_same_tick_is_saved_once(tmp_path: Path) -> None:
    frame = Frame()
    frame.tick = 10
    with Autosaver(tmp_path, every=10, keep_last=3) as saver:
        assert saver.offer(10, frame.capture)
        saver.flush()
        assert not saver.offer(10, frame.capture)
    assert frame.captured == [10]


def test_busy_writer_skips_instead_of_blocking(tmp_path: Path) -> None:
    frame = Frame(size=6_000_000)  # 48 MB: the first write is still running at the next offer
    with Autosaver(tmp_path, every=1, keep_last=5) as saver:
        frame.tick = 1
        assert saver.offer(1, frame.capture)
        frame.tick = 2
        assert not saver.offer(2, frame.capture)
    assert frame.captured == [1]
    assert saver.stats.skipped_busy == 1 and saver.stats.saved == 1


def test_write_failure_is_counted_not_raised(tmp_path: Path) -> None:
    target = tmp_path / "gone"
    target.mkdir()
    frame = Frame()
    frame.tick = 3
    with Autosaver(target, every=3, keep_last=1) as saver:
        shutil.rmtree(target)
        assert saver.offer(3, frame.capture)
        saver.flush()
    assert saver.stats.failed == 1 and saver.stats.saved == 0
    assert autosave_name(3) in (saver.stats.last_error or "")


def test_newest_by_creation_time_not_by_tick(tmp_path: Path) -> None:
    """After resuming from an old autosave, the new timeline's saves are the newest."""
    for tick, created in [(300, "01"), (400, "02"), (200, "03")]:
        write_snapshot(tmp_path / autosave_name(tick),
                       header(tick, f"2026-01-01T00:00:{created}.000000Z", "autosave"),
                       {"a": np.zeros(1)}, overwrite=False)
    removed = prune_autosaves(tmp_path, keep_last=2)
    assert [p.name for p in removed] == [autosave_name(300)]
    assert read_header(tmp_path / autosave_name(200)).tick == 200


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".{autosave_name(5)}.tmp-{dead.pid}-deadbeef"
    mine = tmp_path / f".{autosave_name(5)}.tmp-{os.getpid()}-deadbeef"
    other = tmp_path / f".notes.tsnap.tmp-{dead.pid}-deadbeef"
    for p in (stale, mine, other):
        p.write_bytes(b"partial")
    prune_autosaves(tmp_path, keep_last=1)
    assert not stale.exists() and not other.exists() and mine.exists()


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="keep_last >= 1"):
        Autosaver(Path("."), every=10, keep_last=0)
    with pytest.raises(ValueError, match="every >= 0"):
        Autosaver(Path("."), every=-1, keep_last=1)


def test_stats_are_a_struct() -> None:
    assert msgspec.json.decode(msgspec.json.encode(Autosaver(Path("."), 0, 1).stats))["saved"] == 0
