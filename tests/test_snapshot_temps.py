"""Temporary files of saves killed mid-write are listed, reported and removed; a file a
live writer holds is never touched (issue 11 item 5)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from townlet.snapshots import open_snapshot
from townlet.snapshots.temps import STALE_AFTER, clean_temps, list_temps

# A real writer that stops inside its first fsync (the temporary file exists, holds the
# section bytes and is locked) until its stdin says go on.
WRITER = """
import os, sys
from pathlib import Path
import numpy as np
from townlet.snapshots import SnapshotHeader, write_snapshot
real = os.fsync
def held(fd):
    print("writing", flush=True)
    sys.stdin.readline()
    real(fd)
os.fsync = held
write_snapshot(Path(sys.argv[1]), SnapshotHeader(format_version=0, schema_version=3,
               config_id="c", tick=1, seed=0, created_at="t"),
               {"a": np.arange(100_000, dtype=np.int64)}, overwrite=False)
"""


def _writer(target: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    return proc


def _cli(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "townlet", "snapshot", *args, "--json"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_killed_writer_temp_is_reported_and_cleaned_live_one_kept(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    killed, live = _writer(tmp_path / "a.tsnap"), _writer(tmp_path / "sub" / "b.tsnap")
    try:
        by_pid = {t.pid: t for t in list_temps(tmp_path)}
        assert set(by_pid) == {killed.pid, live.pid}
        assert not any(t.stale for t in by_pid.values())  # both writers are alive
        assert by_pid[live.pid].name.startswith("sub/.b.tsnap.tmp-")
        assert clean_temps(tmp_path) == []

        killed.send_signal(signal.SIGKILL)
        killed.wait(20)
        listed = _cli("list", "--root", str(tmp_path))
        temps = {t["pid"]: t for t in listed["temps"]}
        assert temps[killed.pid]["stale"] and not temps[live.pid]["stale"]
        assert temps[killed.pid]["size"] > 0 and listed["snapshots"] == []

        removed = _cli("clean", "--root", str(tmp_path))["removed"]
        assert [t["pid"] for t in removed] == [killed.pid]
        assert not (tmp_path / removed[0]["name"]).exists()
        assert [t.pid for t in list_temps(tmp_path)] == [live.pid]
    finally:
        killed.kill()
        assert live.stdin is not None
        live.stdin.close()  # go on: every held fsync returns
        assert live.wait(60) == 0
    assert open_snapshot(tmp_path / "sub" / "b.tsnap").header.tick == 1  # it finished intact
    assert list_temps(tmp_path) == []


def test_unlocked_temp_of_a_live_pid_is_stale_only_when_old(tmp_path: Path) -> None:
    """pid 1 is alive but is not our writer (a reused pid): the file is kept while fresh
    (a writer between creating and locking it), removed once older than STALE_AFTER."""
    path = tmp_path / ".x.tsnap.tmp-1-deadbeef"
    path.write_bytes(b"partial")
    assert [t.stale for t in list_temps(tmp_path)] == [False]
    assert clean_temps(tmp_path) == []
    old = time.time() - STALE_AFTER - 5
    os.utime(path, (old, old))
    assert [t.name for t in clean_temps(tmp_path)] == [path.name]
    assert not path.exists()


def test_clean_of_an_empty_root_says_so(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "townlet", "snapshot", "clean", "--root",
                          str(tmp_path)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0 and out.stdout.strip() == "no stale temporary files"


def test_starting_autosave_cleans_the_root(tmp_path: Path) -> None:
    import msgspec

    from townlet.config import default_config
    from townlet.snapshots.world_io import start_autosaver

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".autosave-000000000100.tsnap.tmp-{dead.pid}-0badf00d"
    stale.write_bytes(b"partial")
    cfg = default_config()
    cfg = msgspec.structs.replace(cfg, snapshots=msgspec.structs.replace(
        cfg.snapshots, root=str(tmp_path), autosave_every=10))
    saver = start_autosaver(cfg)
    assert saver is not None
    saver.close()
    assert not stale.exists()
