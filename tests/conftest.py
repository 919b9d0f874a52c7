<<<<<<< HEAD
"""Shared test setup: child processes (``python -m townlet ...``) import this checkout."""
=======
"""Shared pytest setup: child processes import this checkout's townlet."""

from __future__ import annotations
>>>>>>> security

import os
from pathlib import Path

<<<<<<< HEAD
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")) if p
)
=======
ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
>>>>>>> security
