"""`townlet run --policy`, `townlet eval` and the console's rollback as users run them:
real checkpoints, processes, sockets and the shared-memory frame ring."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("gymnasium", reason="needs the rl extra")
pytest.importorskip("torch", reason="needs the rl extra")

from _pilot import config, tiny_checkpoint

from townlet.client.console import ConsoleClient
from townlet.client.errors import BusyTarget
from townlet.frames.reader import FrameReader
from townlet.pilot.checkpoints import load
from townlet.pilot.evaluate import METRICS
from townlet.pilot.serve import slot_of
from townlet.promotion.manager import Promotion
from townlet.promotion.state import SuiteVerdict
from townlet.snapshots.reader import read_header

DOC = (Path(__file__).resolve().parent.parent / "docs" / "pilot.md").read_text()
YAML = """
world:
  town:
    agents: 40
rl:
  observations:
    variant: compact
console:
  endpoint: tcp://127.0.0.1:0
telemetry:
  endpoint: tcp://127.0.0.1:0
  metrics_port: 0
pilot:
  promotion:
    window_ticks: 60
    state_dir: promo
"""


@pytest.fixture()
def workdir(tmp_path):
    (tmp_path / "cfg.yaml").write_text(YAML)
    return tmp_path


def _townlet(workdir, *args, timeout=240):
    return subprocess.run([sys.executable, "-m", "townlet", *args], cwd=workdir,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_run_policy_with_a_mismatched_layout_is_refused(workdir):
    wide = config(workdir, rl_window=True)  # the town's compact window is 5; this one's 7
    tiny_checkpoint(workdir / "wide.pt", wide, seed=0)
    proc = _townlet(workdir, "run", "--config", "cfg.yaml", "--policy", "wide.pt", "--ticks", "5")
    assert proc.returncode == 2, proc.stderr
    assert "layout mismatch" in proc.stderr and "Traceback" not in proc.stderr
    assert f"layout {load(workdir / 'wide.pt').layout_hash[:12]}" in proc.stderr
    assert not (workdir / ".townlet").exists(), "refused before any service started"


def _table_fields(heading: str) -> set[str]:
    """Backticked names in the first column of the table after ``heading``."""
    text = DOC[DOC.index(heading):]
    rows = re.findall(r"^\| (.+?) \|", text[:text.index("\n\n", text.index("| ---"))], re.MULTILINE)
    return {n for r in rows for n in re.findall(r"`(\w+)`", r)}


def test_eval_json_has_the_documented_fields(workdir):
    tiny_checkpoint(workdir / "cand.pt", config(workdir), seed=1)
    proc = _townlet(workdir, "eval", "cand.pt", "--suite", "smoke", "--config", "cfg.yaml",
                    "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == _table_fields("`--json` prints one object")
    assert set(METRICS) == _table_fields("| metric | meaning |")
    (sc,) = report["scenarios"]
    assert set(sc) == {"scenario", "candidate", "release", "scripted", "regressions"}
    for run in (sc["candidate"], sc["scripted"]):
        assert set(run) == {"policy", "policy_hash", "metrics", "deaths", "focal_agents",
                            "clean_windows", "alerts"}
        assert set(run["metrics"]) == set(METRICS)
        assert f"`{run['policy']}`" in DOC
    assert set(report["verdict"]) == {"suite", "suite_version", "evaluated_at",
                                      "clean_windows", "alerts", "regressions", "against"}
    assert report["release"] is None and sc["release"] is None
    assert report["candidate"]["policy_hash"] == load(workdir / "cand.pt").policy_hash


def _notes(proc, *patterns: str) -> list[re.Match]:
    """The first match of each pattern in the lines ``townlet run`` prints on stderr."""
    found: dict[str, re.Match] = {}
    for line in proc.stderr:
        for pattern in patterns:
            m = re.search(pattern, line)
            if m and pattern not in found:
                found[pattern] = m
        if len(found) == len(patterns):
            return [found[p] for p in patterns]
    raise AssertionError(f"townlet run exited without printing {set(patterns) - set(found)}")


def _frame_after(reader: FrameReader, tick: int):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        frame = reader.read_latest()
        if frame is not None and frame.tick > tick:
            return frame
        time.sleep(0.01)
    raise AssertionError(f"no frame after tick {tick} within 60 s")


def test_rollback_restores_the_previous_policy_and_frames_show_it(workdir):
    cfg = config(workdir / "promo")
    tiny_checkpoint(workdir / "alpha.pt", cfg, seed=2)
    tiny_checkpoint(workdir / "beta.pt", cfg, seed=3)
    a, b = load(workdir / "alpha.pt"), load(workdir / "beta.pt")
    clean = SuiteVerdict(suite="smoke", suite_version=1, evaluated_at="t", clean_windows=2,
                         alerts=[], regressions=[], against=None)
    promo = Promotion(cfg.pilot.promotion)
    for p in (a, b):
        promo.submit(slot_of(p), clean, 2, "test")
        promo.promote("test")
    proc = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                             "--policy", "release", "--ticks", "100000000", "--json"],
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        console, ring, policy = _notes(proc, r"console: (tcp://127\.0\.0\.1:\d+)",
                                       r"ring (/\S+)", r"policy: (\S+) (\w+)")
        assert policy.groups() == ("beta", b.policy_hash[:12])
        endpoint, reader = console.group(1), FrameReader(ring.group(1))
        frame = _frame_after(reader, 0)
        assert frame.policy_hash == b.policy_hash and frame.policy_name == "beta"
        assert frame.columns["learned_agents"][0] > 0
        keys = workdir / ".townlet" / "keys"
        with ConsoleClient(endpoint, keys / "server.key",
                           keys / "local-operator.key_secret", timeout=30) as c:
            assert c.call("policy_info")["policy_hash"] == b.policy_hash
            with pytest.raises(BusyTarget, match="no shadow candidate"):
                c.call("promote_policy", reason="nothing submitted")
            resp = c.request("rollback_policy", [], {"reason": "test"})
            assert resp.ok, resp.error
            assert resp.result["release"]["policy_hash"] == a.policy_hash
            frame = _frame_after(reader, resp.tick)
            assert frame.policy_hash == a.policy_hash and frame.policy_name == "alpha"
            saved = c.call("snapshot_save", "after.tsnap")
            ident = read_header(workdir / ".townlet" / "snapshots" / "after.tsnap").identity
            assert ident.policy_hash == a.policy_hash and ident.policy_name == "alpha"
            assert ident.anneal_ratio == 1.0 and ident.learned_agents and saved["tick"] > 0
            status = c.call("promotion_status")
            assert status["promotion"]["state"] == "monitoring"
            assert status["promotion"]["history"][-1]["kind"] == "rollback"
            assert status["stability"]["tick"] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert Promotion(cfg.pilot.promotion).status().release == slot_of(a)
