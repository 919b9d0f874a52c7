"""Sweep specs: every malformed spec is refused before any town runs, with the key
named; towns expand in a fixed order; the journal makes a sweep resumable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from townlet.scale.cluster import SERIAL
from townlet.scale.results import Journal
from townlet.scale.spec import SpecError, load_spec
from townlet.scale.sweep import run_sweep

TINY = "seeds: [0, 1]\nticks: 3\nagents: [16]\n"


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "named"), [
    ("seeds: [0, -1]\nticks: 5\n", "seeds[1]"),
    ("seeds: [0]\nticks: 0\n", "ticks"),
    ("seeds: []\nticks: 5\n", "seeds"),
    ("seeds: [0]\nticks: 5\ncolour: red\n", "colour"),
    ("seeds: [0]\nticks: 5\nagents: [10, zero]\n", "agents[1]"),
    ("seeds: [0]\nticks: 5\nvariants: {a: {world.economy.no_such: 1}}\n",
     "variants.a.world.economy.no_such"),
    ("seeds: [0]\nticks: 5\nvariants: {a: {world.nowhere.x: 1}}\n", "world.nowhere"),
    ("seeds: [0]\nticks: 5\nvariants: {a: {world.town.agents: -3}}\n", "variants.a"),
    ("seeds: [0]\nticks: 5\nvariants: {'bad name!': {}}\n", "variants"),
    ("seeds: [0, 0]\nticks: 5\n", "same town twice"),
    ("seeds: [0]\nticks: 5\nconfig: missing.yaml\n", "config"),
    ("- just\n- a list\n", "object"),
    ("seeds: [0\n", "not a YAML document"),
])
def test_a_malformed_spec_names_its_key(tmp_path, text, named):
    with pytest.raises(SpecError) as info:
        load_spec(_spec(tmp_path, text))
    assert named in str(info.value)


def test_too_many_towns_are_refused_before_any_config_is_built(tmp_path):
    seeds = list(range(200))
    text = f"seeds: {seeds}\nticks: 1\nagents: {list(range(1, 60))}\n"
    with pytest.raises(SpecError, match="towns"):
        load_spec(_spec(tmp_path, text))


def test_towns_expand_in_a_fixed_order_with_their_own_settings(tmp_path):
    text = ("seeds: [5, 6]\nticks: 2\nagents: [16, 32]\npublish: true\npublish_port: 9100\n"
            "variants: {cheap: {}, rich: {world.economy.starting_wallet: 9.0}}\n")
    _, jobs = load_spec(_spec(tmp_path, text))
    assert [j.key for j in jobs][:3] == ["cheap/a16/s5", "cheap/a16/s6", "cheap/a32/s5"]
    assert len(jobs) == 8 and [j.index for j in jobs] == list(range(8))
    ports = {j.config.telemetry.endpoint.rsplit(":", 1)[1] for j in jobs}
    assert ports == {str(9100 + i) for i in range(8)}
    assert all(Path(j.config.keys.dir).is_absolute() for j in jobs)
    assert {j.config.world.economy.starting_wallet for j in jobs if j.variant == "rich"} == {9.0}


def test_a_resumed_sweep_runs_only_the_missing_towns(tmp_path):
    _, jobs = load_spec(_spec(tmp_path, TINY))
    journal = Journal(tmp_path / "out")
    first = run_sweep(jobs[:1], journal, address=SERIAL)
    assert first.ran == [jobs[0].key]
    again = run_sweep(jobs, Journal(tmp_path / "out"), address=SERIAL)
    assert again.skipped == [jobs[0].key] and again.ran == [jobs[1].key]
    assert sorted(r.key for r in again.results) == sorted(j.key for j in jobs)


def test_a_line_cut_short_by_a_crash_reruns_that_town(tmp_path):
    _, jobs = load_spec(_spec(tmp_path, TINY))
    run_sweep(jobs, Journal(tmp_path / "out"), address=SERIAL)
    path = tmp_path / "out" / "journal.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1][:40])  # the driver died while writing town 2
    outcome = run_sweep(jobs, Journal(tmp_path / "out"), address=SERIAL)
    assert outcome.ran == [jobs[1].key]


def test_a_damaged_journal_is_refused_with_its_line(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "journal.jsonl").write_text('{"key": 1}\n')
    with pytest.raises(ValueError, match="journal.jsonl:1"):
        Journal(tmp_path / "out")


def _townlet(*args, cwd):
    return subprocess.run([sys.executable, "-m", "townlet", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=240, check=False)


def test_cli_runs_resumes_and_reports(tmp_path):
    spec = _spec(tmp_path, TINY)
    proc = _townlet("sweep", str(spec), "--ray-address", "none", "--out", "out", "--json",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["key"] for r in rows] == ["base/a16/s0", "base/a16/s1"]
    assert {"need_hunger", "state_hash", "money_conserved"} <= set(rows[0])
    table = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert len(table) == 3 and table[0].startswith("key,")
    again = _townlet("sweep", str(spec), "--ray-address", "none", "--out", "out", cwd=tmp_path)
    assert again.returncode == 0 and "2 of 2 towns already" in again.stderr


def test_cli_refuses_a_malformed_spec_with_exit_2(tmp_path):
    spec = _spec(tmp_path, "seeds: [0]\nticks: 5\nvariants: {a: {world.nowhere: 1}}\n")
    proc = _townlet("sweep", str(spec), "--ray-address", "none", cwd=tmp_path)
    assert proc.returncode == 2 and "variants.a.world.nowhere" in proc.stderr
    assert not (tmp_path / ".townlet").exists()
