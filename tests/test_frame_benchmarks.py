"""benchmarks/bench_frames.py's windows and benchmarks/frame_census.py's shares of changed
pieces: the figures issue 12's frame target is judged by and the census of what a frame
moves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.bench_frames import WINDOWS, FrameWrite, FrameWriteNoon, main
from benchmarks.frame_census import GRAINS, LAGS, census, changed
from benchmarks.frame_census import main as census_main
from townlet.frames.schema import STATE_COLUMNS, STATIC_COLUMNS


def test_the_noon_window_measures_the_ticks_after_noon():
    assert FrameWrite.start == WINDOWS["night"] < WINDOWS["noon"] == FrameWriteNoon.start
    b = FrameWriteNoon()
    b.setup(1000)
    try:
        assert b.world.tick == WINDOWS["noon"]
        share = b.track_write_cpu_percent_of_tick(1000)
        assert math.isfinite(share) and share >= 0
        assert b.world.tick == WINDOWS["noon"] + 64
        assert b.ring.last_frame_tick == b.world.tick  # the frames measured are the window's
    finally:
        b.teardown(1000)


def test_the_script_prints_each_window_it_is_asked_for(capsys):
    main(["--sizes", "1000", "--window", "noon"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("noon  agents=    1,000")


@pytest.mark.parametrize("argv", [["--window", "dusk"], ["--window", "noon,"],
                                  ["--sizes", "0"], ["--sizes", "ten"], ["--sizes", ""]])
def test_the_script_refuses_bad_windows_and_sizes(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_changed_counts_pieces_that_differ_in_memory_order():
    old = np.zeros(2048, "<i4")  # 8 KiB: 128 lines, 2 blocks
    new = old.copy()
    new[[0, 1500]] = 1
    assert changed(old, new, 64) == 2 / 128
    assert changed(old, new, 4096) == 1.0
    new[1500] = 0
    assert changed(old, new, 4096) == 0.5
    assert changed(old, old, 64) == 0.0
    short = np.zeros(5, "<i4")  # a partial piece counts as one
    assert changed(short, short + 1, 64) == 1.0
    rows = np.zeros((40, 4), "<f4")  # a row's bytes lie together
    moved = rows.copy()
    moved[39, 3] = 1
    assert changed(rows, moved, 64) == 1 / 10


def test_the_census_covers_the_frames_changing_columns():
    out = census(1000, WINDOWS["night"], 1)
    assert set(out) == set(STATE_COLUMNS) - set(STATIC_COLUMNS)
    for row in out.values():
        assert all(0.0 <= row[k] <= 1.0 for k in row if k != "bytes")
        assert len(row) == 1 + (1 + len(GRAINS)) * len(LAGS)
    assert out["agent_needs"]["el1"] > 0.5  # needs move every tick for the living
    assert all(out["obj_disabled"][k] == 0.0 for k in out["obj_disabled"] if k != "bytes")


@pytest.mark.parametrize("argv", [["--window", "dusk"], ["--agents", "0"], ["--agents", "1e5"],
                                  ["--bases", "-1"]])
def test_the_census_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        census_main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err
