"""The same tick rules in three forms give the same town: the borrowed tick the world
runs, the plain tick on the StructRef itself, and the interpreted kernel that
``NUMBA_DISABLE_JIT=1`` gives for stepping through with a debugger."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.worlds import run_day
from townlet.world import kernel
from townlet.world import world as world_module

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.warm("plain")  # it loads the warm-up's compile of the StructRef tick
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
    script = "from tests.worlds import run_day; print(run_day(12, 240).state_hash())"
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONWARNINGS": "error"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == run_day(12, 240).state_hash()


def test_every_kernel_function_says_what_it_does():
    from numba.core.registry import CPUDispatcher

    import townlet.world as world_pkg

    missing = []
    for path in sorted(Path(world_pkg.__file__).parent.glob("*.py")):
        module = importlib.import_module(f"townlet.world.{path.stem}")
        missing += [f"{module.__name__}.{name}" for name, obj in vars(module).items()
                    if isinstance(obj, CPUDispatcher) and obj.__module__ == module.__name__
                    and not (obj.py_func.__doc__ or "").strip()]
    assert not missing, f"kernel functions without a docstring: {missing}"


def test_prefetching_is_chosen_by_size_and_changes_no_value(monkeypatch):
    from townlet.world.kernel import PREFETCH_FROM, Run

    small = run_day(60, 1440)
    assert not small._tick_mode() & Run.PREFETCH  # a town that fits in the caches
    modes = []
    original = world_module.World._tick_mode

    def prefetching(self):
        modes.append(original(self) | Run.PREFETCH)
        return modes[-1]

    monkeypatch.setattr(world_module.World, "_tick_mode", prefetching)
    fetched = run_day(60, 1440)
    assert modes and all(m & Run.PREFETCH for m in modes)
    assert fetched.state_hash() == small.state_hash()
    monkeypatch.setattr(world_module.World, "_tick_mode", original)
    monkeypatch.setattr(world_module.World, "n_agents", property(lambda self: PREFETCH_FROM))
    assert small._tick_mode() & Run.PREFETCH
