"""`townlet record` and `townlet replay` against a real town: a replayed recording rebuilds
the original frames tick for tick; files rotate at keyframes under a size cap; killing
the recorder or breaking its directory (or the simulation's audit and autosave paths)
leaves the town running and is reported."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from telemetry_helpers import free_port, metrics, read_json_line, wait_until
from test_ops_run import documented_metrics, served_metrics

from townlet.client.console import ConsoleClient
from townlet.client.subscriber import Subscriber
from townlet.record.format import read_rows, recording_files
from townlet.security import issue_key
from townlet.wire.messages import TOPIC_FRAMES


def _readyz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())["detail"]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["detail"]
    except urllib.error.URLError:
        return 0, "not listening"


def _immutable(path: Path, on: bool) -> None:
    """``chattr +i``: nobody, root included, may create files in ``path`` (read-only)."""
    subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    work = tmp_path_factory.mktemp("ops-record")
    (work / "snaps").mkdir()
    os.symlink("/dev/full", work / "audit.jsonl")  # every audit write fails: ENOSPC
    (work / "cfg.yaml").write_text(f"""
world: {{town: {{agents: 60}}}}
console: {{endpoint: "tcp://127.0.0.1:0", audit_path: audit.jsonl}}
telemetry: {{endpoint: "tcp://127.0.0.1:{free_port()}", keyframe_interval: 25, hwm: 10000}}
snapshots: {{root: snaps, autosave_every: 50}}
""")
    _immutable(work / "snaps", True)  # autosaves fail: the snapshot root is read-only
    proc = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                             "--ticks", "100000000"], cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    text = ""
    for line in proc.stdout:
        text += line
        if line.startswith("publisher: "):
            break
    keys = work / ".townlet" / "keys"
    state = {"proc": proc, "work": work, "keys": keys,
             "console": re.search(r"console: (tcp://\S+)", text).group(1),
             "publisher": re.search(r"publisher: (tcp://\S+)", text).group(1)}
    for name in ("rec", "sub"):
        state[name] = issue_key(keys, name, "viewer", timedelta(hours=1))[1]
    try:
        yield state
    finally:
        proc.kill()
        proc.communicate()
        _immutable(work / "snaps", False)


def _record(town, out: Path, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "townlet", "record", "--endpoint", town["publisher"],
         "--server-key", str(town["keys"] / "server.key"), "--client-key", str(town["rec"]),
         "--out", str(out), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def _collect(sub: Subscriber, until: list[int | None], into: dict[int, str]) -> None:
    """Hash every frame ``sub`` applies until it has applied tick ``until[0]`` (set once
    the recording is done: this subscriber may be behind the recorder on a loaded box)."""
    while until[0] is None or sub.tick < until[0]:
        up = sub.recv(0.2)
        if up is not None and up.kind in ("key", "delta"):
            into[up.tick] = sub.frame_hash()


def _operator(town) -> ConsoleClient:
    return ConsoleClient(town["console"], town["keys"] / "server.key",
                         town["keys"] / "local-operator.key_secret", timeout=300.0)


def test_replay_rebuilds_the_recorded_frames_tick_for_tick(town, tmp_path):
    originals: dict[int, str] = {}
    until: list[int | None] = [None]
    rows: list = []
    with Subscriber(town["publisher"], town["keys"] / "server.key", town["sub"]) as sub:
        wait_until(lambda: (sub.recv(0.2) or True) and sub.synced, "a keyframe",
                   timeout=400)  # the first tick may compile the kernel
        watcher = threading.Thread(target=_collect, args=(sub, until, originals))
        watcher.start()
        try:
            rec = _record(town, tmp_path / "rec", "--messages", "120")
            out, err = rec.communicate(timeout=120)
            files = recording_files(tmp_path / "rec") if rec.returncode == 0 else []
            rows = [r for f in files for r in read_rows(f)]
        finally:
            until[0] = rows[-1].tick if rows else -1
            watcher.join(60)
    assert not watcher.is_alive(), "the test's subscriber never reached the recorded tail"
    assert rec.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out)
    assert summary["messages"] == 120 and summary["write_failures"] == 0
    assert len(rows) == 120 and rows[0].kind == "key"
    assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + 120)), "no gap"
    recorded = [r.tick for r in rows]
    assert set(recorded) <= set(originals), "the test's own subscriber saw every tick"
    offline = Subscriber(None, None, None)  # the recording alone rebuilds every frame
    rebuilt = {}
    for r in rows:
        assert offline.feed(TOPIC_FRAMES, r.payload).kind in ("key", "delta")
        rebuilt[r.tick] = offline.frame_hash()
    offline.close()
    assert rebuilt == {t: originals[t] for t in recorded}, "tick for tick"

    port, mport = free_port(), free_port()
    replay = subprocess.Popen(
        [sys.executable, "-m", "townlet", "replay", *map(str, files), "--endpoint",
         f"tcp://127.0.0.1:{port}", "--metrics-port", str(mport), "--key-dir",
         str(town["keys"]), "--tps", "40", "--wait-for", "1"],
        cwd=town["work"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = read_json_line(replay, timeout=60)
        assert ready["event"] == "ready"
        replayed: dict[int, str] = {}
        with Subscriber(ready["endpoint"], town["keys"] / "server.key", town["sub"]) as sub:
            while True:
                up = sub.recv(30)
                assert up is not None, "the replay stream stalled"
                if up.kind == "end":
                    break
                if up.kind in ("key", "delta"):
                    replayed[up.tick] = sub.frame_hash()
        out, err = replay.communicate(timeout=60)
    finally:
        replay.kill()
    assert replay.returncode == 0, err.decode()[-2000:]
    # The publisher ships the newest frame: a busy machine may skip some, never reorder.
    served = list(replayed)
    assert served == [t for t in recorded if t in replayed] and served[-1] == recorded[-1]
    assert len(served) >= 2, served
    assert replayed == {t: originals[t] for t in served}, "same frames as the original"
    assert json.loads(out.splitlines()[-1])["frames"] == 120


def test_files_rotate_at_keyframes_under_a_size_cap(town, tmp_path):
    rec = _record(town, tmp_path / "rot", "--format", "parquet", "--rotate-mib", "0.02",
                  "--max-mib", "0.2", "--messages", "400")
    out, err = rec.communicate(timeout=120)
    assert rec.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out)
    files = recording_files(tmp_path / "rot")
    assert summary["files"] > len(files) >= 2 and summary["deleted"] >= 1
    assert sum(f.stat().st_size for f in files) <= 0.2 * (1 << 20) + files[-1].stat().st_size
    for f in files:
        rows = list(read_rows(f))
        assert rows[0].kind == "key", f"{f.name} starts with a keyframe"
        assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + len(rows)))


def test_killing_the_recorder_goes_unnoticed(town, tmp_path):
    port = free_port()
    rec = _record(town, tmp_path / "k", "--http-port", str(port))
    try:
        wait_until(lambda: _readyz(port)[0] == 200, "the recorder is ready", timeout=60)
        assert documented_metrics("Recorder") == served_metrics(port)
        wait_until(lambda: metrics(port).get('townlet_record_messages_total{kind="key"}'),
                   "a keyframe is written")
        with _operator(town) as op:
            before = op.call("status")["tick"]
            subscribers = op.call("health")["services"]["publisher"]
            rec.send_signal(signal.SIGKILL)
            rec.wait(30)
            wait_until(lambda: op.call("status")["tick"] > before + 50, "the town ticks on")
            after = op.call("health")["services"]["publisher"]
        assert after["state"] == "up" and after["restarts"] == subscribers["restarts"]
        with Subscriber(town["publisher"], town["keys"] / "server.key", town["sub"]) as sub:
            wait_until(lambda: (sub.recv(0.2) or True) and sub.synced, "frames still flow",
                       timeout=60)
    finally:
        rec.kill()
        rec.communicate()


def test_failing_directories_are_reported_and_nothing_stops(town, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    _immutable(out, True)
    port = free_port()
    rec = _record(town, out, "--http-port", str(port))
    try:
        wait_until(lambda: "writes failing" in _readyz(port)[1], "the recorder reports it",
                   timeout=60)
        assert rec.poll() is None, "the recorder keeps running"
        assert metrics(port)["townlet_record_write_failures_total"] >= 1
        _immutable(out, False)
        wait_until(lambda: _readyz(port)[0] == 200, "it recovers once writable", timeout=60)
        wait_until(lambda: recording_files(out), "a recording appears")
    finally:
        _immutable(out, False)
        rec.send_signal(signal.SIGTERM)
        _, err = rec.communicate(timeout=60)
    logs = [json.loads(line) for line in err.decode().splitlines()]
    assert {"record_write_failed", "record_write_recovered"} <= {r["event"] for r in logs}
    assert {r["role"] for r in logs} == {"recorder"}

    with _operator(town) as op:  # audit (/dev/full) and autosave (read-only root) fail
        wait_until(lambda: op.call("health")["services"]["autosave"]["failed"] >= 1,
                   "an autosave fails", timeout=60)
        health = op.call("health")
        tick = op.call("status")["tick"]
        wait_until(lambda: op.call("status")["tick"] > tick, "the town keeps ticking")
    assert not health["ok"]
    assert health["services"]["autosave"]["state"] == "failing"
    assert "Operation not permitted" in health["services"]["autosave"]["last_error"]
    assert health["audit_failures"] >= 1 and "No space" in health["audit_error"]
    assert town["proc"].poll() is None
