"""Shared pytest setup: child processes import this checkout's townlet."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numba
import pytest
from numba.core.compiler_lock import global_compiler_lock
from numba.core.dispatcher import Dispatcher

ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

from tests._warm import ENTRIES, SCENARIOS, THREADS, WARMER, Warmer, scenarios_named
from townlet.ops.logging import configure_logging

configure_logging(quiet=True)  # records reach pytest's per-test capture only, never the terminal

_STARTED = pytest.StashKey[float]()

SUITE_BUDGET_S = 15 * 60
"""CI's limit for the whole suite on a fresh clone (the README's test command on 2 cores)."""
NEAR_BUDGET = 0.8
"""The share of the budget past which the summary warns: make the slowest tests cheaper
(``--durations=40`` names them) before the limit is reached."""


_WAITED = pytest.StashKey[list[float]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "warm(*scenarios): the test starts once the kernel warm-up (tests/_warm.py) "
        "has done these scenarios, and loads their compiles instead of racing them; the wait "
        "is not part of its timeout")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the clock, and the kernel warm-up beside the tests (tests/_warm.py): unless
    the kernels run interpreted or only collection was asked for."""
    config = session.config
    config.stash[_STARTED] = time.monotonic()
    if numba.config.DISABLE_JIT or config.option.collectonly:
        return
    threads = max(numba.config.NUMBA_NUM_THREADS, THREADS)
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    fd, log = tempfile.mkstemp(".log", "townlet-warm-")
    os.close(fd)
    warmer = config.stash[WARMER] = Warmer(env, Path(log))
    waited = config.stash[_WAITED] = [0.0]
    original = Dispatcher.compile

    def compile_after_warmer(self, sig):
        """Before compiling an entry of the scenario the warmer is compiling, wait for it
        (then this loads it from the cache); never inside another compile. A scenario it has
        not started yet the test compiles itself (the warmer then loads it) unless the test
        is marked ``warm`` with it (``pytest_runtest_protocol`` below)."""
        scenario = ENTRIES.get(f"{self.py_func.__module__}.{self.py_func.__qualname__}")
        if scenario is not None and not global_compiler_lock.is_locked():
            t0 = time.monotonic()
            warmer.wait(scenario)
            waited[0] += time.monotonic() - t0
        return original(self, sig)

    Dispatcher.compile = compile_after_warmer
    config.add_cleanup(lambda: setattr(Dispatcher, "compile", original))
    config.add_cleanup(lambda: (warmer.close(), warmer.log.unlink(missing_ok=True)))


def pytest_collection_finish(session: pytest.Session) -> None:
    """No test starts before the one-thread tick is compiled: a test's subprocess would
    compile it again, and a test that compiles it counts the compile in its timeout."""
    warmer = session.config.stash.get(WARMER, None)
    if warmer is not None and session.items:
        t0 = time.monotonic()
        warmer.wait(SCENARIOS[0][0], started=False)
        session.config.stash[_WAITED][0] += time.monotonic() - t0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a ``warm`` mark that names no scenario before any test runs."""
    for item in items:
        for mark in item.iter_markers("warm"):
            try:
                scenarios_named(mark.args)
            except ValueError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """A test marked ``warm(name)`` starts once the warm-up has done that scenario (or
    ended): it then loads the compile instead of compiling it beside the warm-up. This
    wrapper is outside pytest-timeout's, whose timer starts only after the wait."""
    warmer = item.config.stash.get(WARMER, None)
    if warmer is not None:
        t0 = time.monotonic()
        for mark in item.iter_markers("warm"):
            for name in scenarios_named(mark.args):
                warmer.wait(name, started=False)
        item.config.stash[_WAITED][0] += time.monotonic() - t0
    yield


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line with the run's time against the suite's budget (a report, not a test: no
    test fails on time); a warning past NEAR_BUDGET of it."""
    if config.option.collectonly:
        return
    seconds = time.monotonic() - config.stash[_STARTED]
    warmer = config.stash.get(WARMER, None)
    if warmer is not None:
        _report_warmer(terminalreporter, warmer, config.stash[_WAITED][0])
    share = seconds / SUITE_BUDGET_S
    line = (f"test time {seconds:.0f} s = {share:.0%} of the full suite's budget of "
            f"{SUITE_BUDGET_S} s")
    if share > NEAR_BUDGET:
        terminalreporter.write_sep("!", f"{line}: past {NEAR_BUDGET:.0%} of it, make the "
                                        f"slowest tests cheaper (pytest --durations=40)",
                                   yellow=True)
    else:
        terminalreporter.write_line(line)


def _report_warmer(terminalreporter, warmer: Warmer, waited: float) -> None:
    """What the kernel warm-up did; its error output if it failed (the tests then compiled
    what it did not)."""
    status = warmer.close()
    done = ", ".join(name for name, _, _ in SCENARIOS if name in warmer.done) or "nothing"
    line = f"kernel warm-up beside the tests: {done} ready; tests waited {waited:.0f} s for it"
    if status not in (0, None):
        terminalreporter.write_sep("!", f"{line}; it failed (exit {status}):", yellow=True)
        terminalreporter.write_line(warmer.log.read_text()[-3000:])
    else:
        terminalreporter.write_line(line + ("" if status == 0 else " (stopped at the end)"))
