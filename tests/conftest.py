"""Shared test setup: child processes (``python -m townlet ...``) import this checkout."""

import os
from pathlib import Path

os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")) if p
)
