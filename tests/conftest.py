"""Shared pytest setup: child processes import this checkout's townlet."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numba
import pytest
from numba.core.compiler_lock import global_compiler_lock
from numba.core.dispatcher import Dispatcher

ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

from tests._warm import ENTRIES, SCENARIOS, THREADS, WARMER, Warmer
from townlet.ops.logging import configure_logging

configure_logging(quiet=True)  # records reach pytest's per-test capture only, never the terminal

_STARTED = pytest.StashKey[float]()

SUITE_BUDGET_S = 15 * 60
"""CI's limit for the whole suite on a fresh clone (the README's test command on 2 cores)."""
NEAR_BUDGET = 0.8
"""The share of the budget past which the summary warns: make the slowest tests cheaper
(``--durations=40`` names them) before the limit is reached."""


_WAITED = pytest.StashKey[list[float]]()
_MISPLACED = pytest.StashKey[list[str]]()
"""Early tests (``EARLY``) that called a kernel before the one-thread tick was ready."""

EARLY = frozenset({
    "test_cli_help.py", "test_console_docs.py", "test_console_envelope.py",
    "test_console_resilience.py", "test_core_digest.py", "test_frames_take.py",
    "test_kernel_cache.py", "test_layers.py", "test_logging.py", "test_one_definition.py",
    "test_ops_deploy.py", "test_publish.py", "test_publish_diff.py", "test_publish_docs.py",
    "test_publish_peers.py", "test_ring.py", "test_security_cli.py", "test_security_perms.py",
    "test_security_registry.py", "test_security_sandbox.py", "test_security_zap.py",
    "test_snapshot_autosave.py", "test_snapshot_catalog.py", "test_snapshot_checks.py",
    "test_snapshot_format.py", "test_snapshot_migrations.py", "test_snapshot_property.py",
    "test_snapshot_temps.py", "test_subscriber.py", "test_subscriber_hostile.py",
    "test_train_gae.py",
})
"""Test files whose tests need no compiled kernel: no town is built or stepped there, in
the test process or a subprocess (measured per test). They run first, beside the
warm-up's compile of the one-thread tick, instead of after it. A test added to one of
them that does need a kernel still works: in this process it waits for the warm-up (see
``compile_after_warmer``); a subprocess of it would compile the tick a second time."""


def _early(item: pytest.Item) -> bool:
    return item.path.name in EARLY


@contextmanager
def _untimed():
    """Pause the running test's timeout (pytest-timeout's SIGALRM timer) meanwhile: a
    wait for the warm-up is no part of the test. Only on the main thread, where tests run:
    the timer is the process's, and another thread may wait while a later test runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    left, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if left:
            signal.setitimer(signal.ITIMER_REAL, left, interval)


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
    misplaced = config.stash[_MISPLACED] = []
    original = Dispatcher.compile

    def compile_after_warmer(self, sig):
        """Before compiling an entry of the scenario the warmer is compiling, wait for it
        (then this loads it from the cache); never inside another compile. A scenario it has
        not started yet the test compiles itself (the warmer then loads it). Any townlet
        kernel waits for the first scenario (the town's kernels and the one-thread tick),
        which only an early test (``EARLY``) can reach unfinished."""
        module = self.py_func.__module__
        scenario = ENTRIES.get(f"{module}.{self.py_func.__qualname__}")
        first = SCENARIOS[0][0]
        if module.startswith("townlet.") and first not in warmer.done:
            scenario = first
            test = os.environ.get("PYTEST_CURRENT_TEST", "collection").split(" ")[0]
            if test not in misplaced:
                misplaced.append(test)
        if scenario is not None and not global_compiler_lock.is_locked():
            t0 = time.monotonic()
            with _untimed():
                warmer.wait(scenario, started=scenario != first)
            waited[0] += time.monotonic() - t0
        return original(self, sig)

    Dispatcher.compile = compile_after_warmer
    config.add_cleanup(lambda: setattr(Dispatcher, "compile", original))
    config.add_cleanup(lambda: (warmer.close(), warmer.log.unlink(missing_ok=True)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of ``EARLY`` files first, the others in their order."""
    items.sort(key=lambda item: not _early(item))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item):
    """No test but an early one starts before the one-thread tick is compiled: a test's
    subprocess would compile it again. The wait is outside the test's timeout (this
    wrapper runs before pytest-timeout's)."""
    warmer = item.config.stash.get(WARMER, None)
    if warmer is not None and not _early(item) and SCENARIOS[0][0] not in warmer.done:
        t0 = time.monotonic()
        warmer.wait(SCENARIOS[0][0], started=False)
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
        if config.stash[_MISPLACED]:
            terminalreporter.write_sep("!", "these early tests needed a kernel and waited for "
                                            "the warm-up: take their files out of EARLY in "
                                            "tests/conftest.py", yellow=True)
            terminalreporter.write_line(" ".join(config.stash[_MISPLACED]))
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
