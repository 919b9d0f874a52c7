"""The same tick rules in three forms give the same town: the borrowed tick the world
runs, the plain tick on the StructRef itself, and the interpreted kernel that
``NUMBA_DISABLE_JIT=1`` gives for stepping through with a debugger."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from tests.worlds import small_world
from townlet.world import kernel
from townlet.world import world as world_module
from townlet.world.actions import N_ACTIONS

DAY = """
import numpy as np
from tests.worlds import small_world

def run_day(agents, ticks):
    w = small_world(agents=agents, seed=5)
    rng = np.random.default_rng(0)
    for t in range(ticks):
        if t % 97 < 7:  # some ticks on operator/learner actions, the rest scripted
            w.step(rng.integers(-1, {n_actions}, w.n_agents).astype(np.int8))
        else:
            w.step()
    return w
""".format(n_actions=N_ACTIONS)
namespace: dict = {}
exec(DAY, namespace)
run_day = namespace["run_day"]


def test_borrowed_and_plain_tick_give_identical_days(monkeypatch):
    borrowed = run_day(60, 1440)
    monkeypatch.setattr(world_module, "tick", kernel._tick)  # the StructRef, not a view
    plain = run_day(60, 1440)
    assert plain.tick == borrowed.tick == 1440
    ours, theirs = borrowed.sections(), plain.sections()
    different = [k for k in ours if not np.array_equal(ours[k], theirs[k])]
    assert not different
    assert plain.state_hash() == borrowed.state_hash()


def test_interpreted_kernel_runs_a_tiny_town_like_the_compiled_one():
    script = DAY + "\nprint(run_day(12, 240).state_hash())\n"
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONWARNINGS": "error"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300, check=False,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == run_day(12, 240).state_hash()


def test_every_kernel_function_says_what_it_does():
    from numba.core.registry import CPUDispatcher

    import townlet.world as world_pkg

    missing = []
    for path in sorted(os.listdir(os.path.dirname(world_pkg.__file__))):
        if not path.endswith(".py"):
            continue
        module = __import__(f"townlet.world.{path[:-3]}", fromlist=["_"])
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == module.__name__:
                if not (obj.py_func.__doc__ or "").strip():
                    missing.append(f"{module.__name__}.{name}")
    assert not missing, f"kernel functions without a docstring: {missing}"
