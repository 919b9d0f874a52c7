"""Shared pytest setup: child processes import this checkout's townlet."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

from townlet.ops.logging import configure_logging

configure_logging(quiet=True)  # records reach pytest's per-test capture only, never the terminal

_STARTED = pytest.StashKey[float]()

SUITE_BUDGET_S = 15 * 60
"""CI's limit for the whole suite on a fresh clone (the README's test command on 2 cores)."""
NEAR_BUDGET = 0.8
"""The share of the budget past which the summary warns: make the slowest tests cheaper
(``--durations=40`` names them) before the limit is reached."""


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line with the run's time against the suite's budget (a report, not a test: no
    test fails on time); a warning past NEAR_BUDGET of it."""
    if config.option.collectonly:
        return
    seconds = time.monotonic() - config.stash[_STARTED]
    share = seconds / SUITE_BUDGET_S
    line = (f"test time {seconds:.0f} s = {share:.0%} of the full suite's budget of "
            f"{SUITE_BUDGET_S} s")
    if share > NEAR_BUDGET:
        terminalreporter.write_sep("!", f"{line}: past {NEAR_BUDGET:.0%} of it, make the "
                                        f"slowest tests cheaper (pytest --durations=40)",
                                   yellow=True)
    else:
        terminalreporter.write_line(line)
