"""The ``kernel.threads`` setting: the same states for every thread count, and the
per-phase cost measurement leaves the run it measures untouched."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from rich.console import Console

from townlet.config import ConfigError, default_config, with_agents, with_settings
from townlet.sim.bench import CPU_COLUMN, tick_table
from townlet.world import World
from townlet.world.errors import InvalidArgument
from townlet.world.geometry import PERIOD, outside_door
from townlet.world.kernel import PHASES
from townlet.world.phases import phase_costs


def _world(threads: int, agents: int = 240, seed: int = 11) -> World:
    cfg = with_settings(with_agents(default_config(), agents), {"kernel.threads": threads}, "test")
    return World(cfg, seed)


ROWS = 9
"""District rows of tests/_threads_run.py's town (87 districts, 10 a row)."""


@pytest.mark.timeout(900)  # compiles the one-thread and the wave tick in the subprocess
@pytest.mark.warm("waves")
def test_every_thread_count_gives_the_same_states_and_events():
    """Threads 1, 2 and 3 over 87 districts (rows overlapping by 3 districts): the same state
    hashes, events and restored snapshots, through perturbations, deaths and respawns, an
    exit, a kill, a spawn, a teleport across the town, forced chats, a meeting and random
    actions. On 2 and 3 threads most ticks ran all their rows on the threads; the tick
    after a tie between far districts was set ran in slot order (the same code as one
    thread)."""
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("_threads_run.py")),
                          "1", "2", "3"], env={**os.environ, "NUMBA_NUM_THREADS": "3"},
                         capture_output=True, text=True, timeout=900, check=True)
    runs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["threads"] for r in runs] == [1, 2, 3]
    same = ("hashes", "events", "restored", "final", "tail_events", "restored_events", "stats")
    for run in runs[1:]:
        assert {k: run[k] for k in same} == {k: runs[0][k] for k in same}
    one = runs[0]
    assert one["restored"] == one["final"] and one["restored_events"] == one["tail_events"]
    assert one["waves"] == {"before_far_tie": 0, "rows_before_far_tie": 0,
                            "with_far_tie": 0}  # one thread: never
    for run in runs[1:]:
        waves = run["waves"]
        # 595 before agents on the street just past their 3x3 were tame (waves.MARGIN)
        assert waves["before_far_tie"] > 700 and waves["with_far_tie"] == 0
        assert waves["rows_before_far_tie"] >= ROWS * waves["before_far_tie"]
    for name in ("CHATS", "COMPLETED", "EXITS", "RESPAWNS", "FAINTS", "DEATHS", "KILLS", "SPAWNS"):
        assert one["stats"][name] > 0, name


def _same_tick(one: World, two: World) -> tuple[int, int]:
    """One tick of both towns: the same state and events; the whole ticks and the rows the
    two-thread town ran on its threads."""
    ticks, rows = two.wave_ticks, two.wave_rows
    one.step()
    two.step()
    assert one.state_hash() == two.state_hash()
    assert one.events().tobytes() == two.events().tobytes()
    return two.wave_ticks - ticks, two.wave_rows - rows


def _towns() -> tuple[World, World]:
    """One town of 26 districts in 5 rows on 1 and on 2 threads, 60 ticks in."""
    one, two = _world(1, 3000, 5), _world(2, 3000, 5)
    for _ in range(60):
        one.step()
        two.step()
    return one, two


def _past_3x3(world: World, i: int) -> tuple[int, int]:
    """A street tile one column past agent i's 3x3 and the street past it (its
    district's ``span``), in a tile row of it: i is wild there, and near home."""
    x0, xs, y0, _ = (int(v) for v in world._waves.span[int(world.view("agent_district")[i])])
    y = -(-y0 // PERIOD) * PERIOD  # the first street row in it
    x = x0 + xs if x0 + xs < world.view("tile_kind").shape[1] else x0 - 1
    return x, y


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.timeout(900)  # compiles the wave tick when no warm-up ran it
@pytest.mark.warm("waves")
def test_a_wild_agent_sends_only_its_row_and_later_ones_to_slot_order():
    """An agent on the street just past its district's 3x3 (where the doors of the 3x3's
    last block row open) is tame: every row runs on the threads. An agent a tile further,
    still near home (``waves.STRAY``), is wild: the rows before its own run on the threads,
    the rest in slot order. Both ticks equal the one-thread tick."""
    one, two = _towns()
    p, rows = two._p, two.district_rows
    street = outside_door((2 * p.district_side - 1) * p.blocks_w, p.blocks_w)
    last = int(np.nonzero(two.alive)[0][-1])  # home in the last row
    for world in (one, two):
        world.teleport(0, *street)  # district 0's 3x3 ends one tile above this street
    assert _same_tick(one, two) == (1, rows)
    for world in (one, two):
        world.teleport(last, *_past_3x3(two, last))
    assert _same_tick(one, two) == (0, rows - 1)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.timeout(900)  # compiles the wave tick when no warm-up ran it
@pytest.mark.warm("waves")
def test_an_agent_far_from_home_sends_every_tick_to_slot_order_until_it_is_back():
    """An agent far from home (teleported from the last row into the first) may have its
    ties row written in one tick by a neighbour there and by a tie partner at home, whose
    districts the pipeline does not order: every tick runs in slot order while it stands
    there (the check runs again after each), and on the threads again once it is back.
    Every tick equals the one-thread tick."""
    one, two = _towns()
    last = int(np.nonzero(two.alive)[0][-1])
    home = (int(two.view("agent_x")[last]), int(two.view("agent_y")[last]))
    for world in (one, two):
        world.teleport(last, *outside_door(0, two._p.blocks_w))
    assert _same_tick(one, two) == (0, 0)
    assert _same_tick(one, two) == (0, 0)
    for world in (one, two):
        world.teleport(last, *home)
    assert _same_tick(one, two) == (1, two.district_rows)


@pytest.mark.timeout(900)  # may compile the wave tick for 3 threads in the subprocess
@pytest.mark.warm("waves")
def test_a_chat_and_a_tie_write_on_an_agent_far_from_home_meet_in_slot_order():
    """The race the far-from-home rule closes: in one tick an agent far from home is
    talked to by a neighbour there and loses a tie to a partner near its home (both
    write its ties row, from districts more than RADIUS apart whose turns the pipeline
    may run in either order: before the rule, the rows before the far agent's ran on the
    threads and 3 threads sometimes left another state). The tick runs in slot order on 2
    and 3 threads, and states and events equal one thread's; the next tick too (the chat
    tied two homes far apart)."""
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("_threads_run.py")),
                          "far", "1", "2", "3"], env={**os.environ, "NUMBA_NUM_THREADS": "3"},
                         capture_output=True, text=True, timeout=900, check=True)
    runs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["threads"] for r in runs] == [1, 2, 3]
    assert runs[0]["chat"] and runs[0]["untied"]  # both writes happened
    for run in runs:
        assert (run["rows"], run["next_rows"]) == (0, 0)
        assert {k: run[k] for k in ("hash", "events", "chat", "untied")} == {
            k: runs[0][k] for k in ("hash", "events", "chat", "untied")}


def test_threads_beyond_numba_are_refused_with_the_fix():
    too_many = numba.config.NUMBA_NUM_THREADS + 1
    with pytest.raises(InvalidArgument, match=f"NUMBA_NUM_THREADS={too_many}"):
        _world(too_many, agents=20)


def test_threads_key_is_checked_at_load():
    with pytest.raises(ConfigError, match="kernel.threads"):
        with_settings(default_config(), {"kernel.threads": 0}, "--threads")


def test_threads_do_not_change_config_id():
    from townlet.config import config_id

    cfg = default_config()
    assert config_id(with_settings(cfg, {"kernel.threads": 2}, "test")) == config_id(cfg)


def test_phase_costs_measure_every_phase_without_changing_the_run():
    measured, plain = _world(1, agents=120), _world(1, agents=120)
    for _ in range(30):
        measured.step()
        plain.step()
    costs = phase_costs(measured, 5)
    for _ in range(5):
        plain.step()
    assert measured.state_hash() == plain.state_hash()
    assert set(costs) == {*PHASES, "tick"}
    assert all(math.isfinite(v) for v in costs.values())
    assert costs["tick"] > 0


BENCH_KEYS = {"wave_share", "agents", "threads", "ticks", "build_s", "ticks_per_s",
              "agent_steps_per_s", "ns_per_agent_tick", "peak_rss_mb"}
"""``townlet bench --json``'s keys per run before process CPU was added: scripts use them."""


def test_bench_reports_threads_and_phases():
    out = subprocess.run([sys.executable, "-m", "townlet", "bench", "--one", "200", "--ticks",
                          "3", "--warmup", "3", "--threads", "1", "--phases"],
                         capture_output=True, text=True, timeout=600, check=True)
    row = json.loads(out.stdout)
    assert row["threads"] == 1 and row["agents"] == 200
    assert row["wave_share"] == row["wave_row_share"] == 0  # one thread: the slot loop
    assert set(row["phases_ns"]) == {*PHASES, "tick"}
    assert set(row) == {*BENCH_KEYS, "cpu_ns_per_agent_tick", "wave_row_share", "phases_ns"}
    assert row["cpu_ns_per_agent_tick"] > 0


def test_bench_table_shows_process_cpu_next_to_wall():
    row = {"agents": 10_000, "threads": 2, "wave_share": 0.5, "agent_steps_per_s": 25_000_000,
           "ns_per_agent_tick": 40.0, "cpu_ns_per_agent_tick": 71.25, "ticks_per_s": 2500.0,
           "peak_rss_mb": 80.5, "build_s": 0.4}
    console = Console(record=True, width=400)
    console.print(tick_table([row]))
    header, values = (line for line in console.export_text().splitlines()
                      if "agents" in line or "10,000" in line)
    cells = [c.strip() for c in values.strip(" │┃").split("│")]
    columns = [c.strip() for c in header.strip(" ┃│").split("┃")]
    assert columns.index(CPU_COLUMN) == columns.index("ns/agent-tick") + 1
    assert cells[columns.index(CPU_COLUMN)] == "71.25"


def test_bench_tables_are_whole_when_piped(monkeypatch):
    """Into a pipe (not a terminal; Rich assumes 80 columns there) every header and value of
    ``townlet bench``'s tables is printed whole, each header on one line."""
    from click.testing import CliRunner

    from townlet.sim import bench

    def row(agents, ticks, warmup, threads, phases):
        return {"agents": agents, "threads": threads, "wave_share": 0.5,
                "agent_steps_per_s": 25_000_000, "ns_per_agent_tick": 40.0,
                "cpu_ns_per_agent_tick": 71.25, "ticks_per_s": 2500.0, "peak_rss_mb": 830.5,
                "build_s": 0.4, "phases_ns": {name: 1.5 for name in (*PHASES, "tick")}}

    monkeypatch.setattr(bench, "_one", row)
    monkeypatch.setattr(bench, "_cold_start", lambda: 1.25)
    monkeypatch.setenv("COLUMNS", "80")
    out = CliRunner().invoke(bench.bench_command, ["--sizes", "1000000", "--threads", "1,2",
                                                   "--phases"])
    assert out.exit_code == 0, out.output
    assert "…" not in out.output
    header = next(line for line in out.output.splitlines() if "agents" in line)
    for column in ("agents", "threads", "wave ticks", "agent-steps/s", "ns/agent-tick",
                   CPU_COLUMN, "ticks/s", "peak RSS MB", "build s"):
        assert f" {column} " in header, column
    assert "1,000,000 x2" in out.output and "25,000,000" in out.output
    assert "cold start of `townlet run --ticks 1`: 1.25 s" in out.output


def test_bench_refuses_bad_thread_counts():
    out = subprocess.run([sys.executable, "-m", "townlet", "bench", "--threads", "0,x"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2
    assert "--threads" in out.stderr


def _run_cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "townlet", "run", "--agents", "60", "--ticks",
                           "120", "--json", "--no-console", "--no-publish", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.warm("waves")
def test_run_threads_flag_gives_the_same_run(tmp_path):
    one, two = _run_cli(tmp_path, "--threads", "1"), _run_cli(tmp_path, "--threads", "2")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert json.loads(one.stdout)["state_hash"] == json.loads(two.stdout)["state_hash"]
    bad = _run_cli(tmp_path, "--threads", "0")
    assert bad.returncode == 2 and "kernel.threads" in bad.stderr
