"""Shared pytest setup: child processes import this checkout's townlet."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)

from townlet.ops.logging import configure_logging

configure_logging(quiet=True)  # records reach pytest's per-test capture only, never the terminal
