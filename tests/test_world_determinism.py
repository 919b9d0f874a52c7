"""Same config and seed give bit-identical state, also across processes."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.worlds import small_world

SCRIPT = """
import json, sys
from tests.worlds import small_world
w = small_world(agents=150, seed=int(sys.argv[1]))
w.perturb("blackout", 30, target=0)
for _ in range(int(sys.argv[2])):
    w.step()
print(json.dumps({"hash": w.state_hash(), "tick": w.tick}))
"""


def _start_in_subprocess(seed: int, ticks: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(seed), str(ticks)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _hash_of(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out)["hash"]


def test_same_seed_same_hash_across_processes():
    """Two processes and this one run the same town at the same time (each its own)."""
    procs = [_start_in_subprocess(7, 1500) for _ in range(2)]
    w = small_world(agents=150, seed=7)
    w.perturb("blackout", 30, target=0)
    for _ in range(1500):
        w.step()
    a, b = (_hash_of(p) for p in procs)
    assert a == b == w.state_hash()


def test_different_seeds_differ():
    a, b = small_world(agents=50, seed=1), small_world(agents=50, seed=2)
    for _ in range(50):
        a.step()
        b.step()
    assert a.state_hash() != b.state_hash()


def test_sections_round_trip_resumes_exactly():
    a = small_world(agents=80, seed=9)
    for _ in range(300):
        a.step()
    saved = {k: v.copy() for k, v in a.sections().items()}
    for _ in range(200):
        a.step()
    b = small_world(agents=80, seed=9)
    b.load_sections(saved)
    for _ in range(200):
        b.step()
    assert a.state_hash() == b.state_hash()


def test_load_sections_names_the_bad_section():
    import numpy as np
    import pytest

    w = small_world(agents=10)
    bad = {k: v.copy() for k, v in w.sections().items()}
    bad["agent_x"] = np.zeros(3, dtype=np.int16)
    with pytest.raises(ValueError, match="agent_x"):
        w.load_sections(bad)
    del bad["agent_x"]
    with pytest.raises(ValueError, match="missing \\['agent_x'\\]"):
        w.load_sections(bad)


def test_load_sections_refuses_out_of_range_indices_without_touching_the_world():
    import numpy as np
    import pytest

    w = small_world(agents=20)
    w.step()
    before = w.state_hash()
    for name, value in (("agent_obj", 2_000_000_000), ("tile_head", -7), ("agent_x", 30000),
                        ("exit_meta", 500), ("agent_job", 9), ("rel_other", 20)):
        bad = {k: v.copy() for k, v in w.sections().items()}
        bad[name].flat[0] = value
        with pytest.raises(ValueError, match=name):
            w.load_sections(bad)
        assert w.state_hash() == before
    bad = {k: v.copy() for k, v in w.sections().items()}
    bad["agent_needs"][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        w.load_sections(bad)
    w.step()


def test_resume_is_exact_right_after_a_teleport():
    a = small_world(agents=40, seed=12)
    for _ in range(100):
        a.step()
    a.teleport(3, int(a.view("obj_ax")[a.view("agent_bed")[5]]),
               int(a.view("obj_ay")[a.view("agent_bed")[5]]))
    saved = {k: v.copy() for k, v in a.sections().items()}
    b = small_world(agents=40, seed=12)
    b.load_sections(saved)
    for _ in range(50):
        a.step()
        b.step()
    assert a.state_hash() == b.state_hash()
