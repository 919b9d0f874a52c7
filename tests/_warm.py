"""Compile the suite's kernel specialisations once, in a process beside pytest.

On a fresh clone the suite's cost is the Numba compiles of the tick (``cache=True``), each
done in the test that first needs it, on one core while the other idles. tests/conftest.py
starts this module as a script when the session starts. It runs each of :data:`SCENARIOS`
in turn, which compiles that specialisation into the kernel cache (townlet.world._cache),
or loads it when cached already, and prints the scenario's name when it is done.

The test process waits for the first scenario (the one-thread tick every town needs)
before any test runs, so that no test or subprocess of a test compiles it a second time.
Later scenarios compile while the tests run. A test marked ``@pytest.mark.warm(name)``
starts only once the warmer has done that scenario (the wait is outside the test's
timeout), then loads it from the cache. An unmarked test that would compile an entry of
the scenario in progress (:data:`ENTRIES`) waits for it inside its timeout; one of a
scenario not started yet it compiles itself, and the warmer then loads it.
Numba writes every cache file under a temporary name and renames it into place
(``numba.core.caching``), so a second process compiling the same function meanwhile
(a test's subprocess) gets a whole file either way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

__all__ = ["ENTRIES", "SCENARIOS", "WARMER", "Warmer", "dispatcher", "run_scenarios",
           "scenarios_named"]

THREADS = 2
"""Kernel threads of the waves scenario (``NUMBA_NUM_THREADS`` is raised to it if lower)."""


def _world(threads: int):
    from townlet.config import default_config, with_agents, with_settings
    from townlet.world import World

    cfg = with_settings(with_agents(default_config(), 60), {"kernel.threads": threads}, "warm")
    return World(cfg, 0)


def _tick() -> None:
    """A town built and stepped on one thread: its construction kernels and ``tick``."""
    _world(1).step()


def _waves() -> None:
    """A town stepped on two threads: ``tick_waves``, run by every ``kernel.threads`` > 1."""
    _world(THREADS).step()


def _plain() -> None:
    """The tick on the StructRefs themselves, not on borrowed views (the kernel-modes test)."""
    from townlet.world import kernel
    from townlet.world.kernel import PHASES

    world = _world(1)
    kernel._tick(world._ks, world._kp, world._no_actions, False, len(PHASES), world._tick_mode())


SCENARIOS: tuple[tuple[str, Callable[[], None], tuple[str, ...]], ...] = (
    ("tick", _tick, ("townlet.world.kernel.tick",)),
    ("waves", _waves, ("townlet.world.waves.tick_waves",)),
    ("plain", _plain, ("townlet.world.kernel._tick",)),
)
"""Name, what compiles it, and the kernel functions called from Python that it compiles, in
the order the suite first needs them."""

WARMER = pytest.StashKey["Warmer"]()
"""The session's warm-up, in ``config.stash`` (absent when none was started)."""

ENTRIES = {entry: name for name, _, entries in SCENARIOS for entry in entries}
"""Kernel function (``module.qualname``) -> the scenario that compiles it."""


def scenarios_named(names: tuple[object, ...]) -> tuple[str, ...]:
    """The arguments of a ``warm`` mark, checked: one or more names of :data:`SCENARIOS`
    (ValueError otherwise: a misspelt name would wait for nothing)."""
    known = [name for name, _, _ in SCENARIOS]
    if not names:
        raise ValueError(f"warm() names no scenario; name one of {', '.join(known)}")
    for name in names:
        if name not in known:
            raise ValueError(f"warm({name!r}): no such kernel warm-up scenario; "
                             f"tests/_warm.py has {', '.join(known)}")
    return tuple(str(name) for name in names)


def dispatcher(entry: str):
    """The kernel function named ``module.qualname``."""
    import importlib

    module, _, function = entry.rpartition(".")
    return getattr(importlib.import_module(module), function)


def run_scenarios(out: IO[str]) -> None:
    """Run every scenario, writing ``start NAME`` to ``out`` before it and ``done NAME``
    once its entries are compiled."""
    for name, run, entries in SCENARIOS:
        print("start", name, file=out, flush=True)
        run()
        for entry in entries:
            if not dispatcher(entry).signatures:
                raise RuntimeError(f"scenario {name} did not compile {entry}")
        print("done", name, file=out, flush=True)


class Warmer:
    """The warm-up process and what it has reported, read by a thread of this process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, __file__], env=env, stdout=subprocess.PIPE,
                                         stderr=err, stdin=subprocess.PIPE, text=True)
        self.done: set[str] = set()
        self.running: str | None = None
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="warm-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            word, _, name = line.strip().partition(" ")
            with self._changed:
                self.running = name if word == "start" else None
                if word == "done":
                    self.done.add(name)
                self._changed.notify_all()
        with self._changed:
            self.running = None
            self.proc.wait()
            self._changed.notify_all()

    def wait(self, scenario: str, started: bool = True) -> None:
        """Block until ``scenario`` is not running (done, or the process ended). With
        ``started`` false also until it has started: the caller needs it, not just no
        duplicate."""
        with self._changed:
            while (self.running == scenario or not started and scenario not in self.done
                   and self.proc.poll() is None):
                self._changed.wait()

    def close(self) -> int | None:
        """Stop the process if it still runs (a short session); its exit status when it
        ended by itself, None when stopped (the cache keeps what it completed)."""
        status = self.proc.poll()
        if status is None:
            self.proc.terminate()
            self.proc.wait()
        self._reader.join()
        if self.proc.stdin:
            self.proc.stdin.close()
        return status


def _exit_with_parent() -> None:
    """End this process when the test process ends, however it ends (its end of our stdin
    closes): a killed pytest leaves no compile running."""
    sys.stdin.read()
    os._exit(1)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    run_scenarios(sys.stdout)
