"""The checkout stays clean: runtime state lives under one ignored directory, nothing
runtime is tracked, packaging metadata is complete, and the suite runs without the
optional extras."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import townlet
from townlet.config import default_config
from townlet.config.paths import STATE_DIR
from townlet.sim import bench

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_runtime_state_defaults_live_in_the_state_directory():
    cfg = default_config()
    paths = (cfg.keys.dir, cfg.console.audit_path, cfg.snapshots.root)
    assert all(p.startswith(STATE_DIR + "/") for p in paths), paths


def test_state_directory_is_ignored_and_no_runtime_state_is_tracked():
    assert _git("check-ignore", "-q", f"{STATE_DIR}/keys/server.key_secret").returncode == 0
    tracked = _git("ls-files", "--", "logs", "snapshots", STATE_DIR, "*.tsnap", "*.jsonl")
    assert tracked.stdout == ""


def test_packaging_metadata_is_complete():
    assert (resources.files("townlet") / "py.typed").is_file()
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in meta["tool"]["setuptools"]["package-data"]["townlet"]
    assert not (ROOT / "setup.cfg").exists(), "tool settings live in pyproject.toml"
    asv = json.loads((ROOT / "asv.conf.json").read_text())
    assert not [k for k, v in asv.items() if isinstance(v, str) and "example" in v]


BLOCK_EXTRAS = """
import sys
for name in ("gymnasium", "pettingzoo", "textual", "torch", "ray"):
    sys.modules[name] = None  # as if the rl, ui and ray extras were not installed
import numba.core.dispatcher as dispatcher
ran = []
first_call = dispatcher.Dispatcher._compile_for_args  # a kernel's first call in a process
def record(self, *args, **kws):
    ran.append(f"{self.py_func.__module__}.{self.py_func.__qualname__}")
    return first_call(self, *args, **kws)
dispatcher.Dispatcher._compile_for_args = record
import pytest
rc = pytest.main(["-q", "--collect-only", "-p", "no:cacheprovider", "tests"])
print("kernels run while collecting:", ran)
sys.exit(rc or bool(ran))
"""


def test_suite_collects_without_the_optional_extras_and_runs_no_kernel():
    """Collection imports every test module: a kernel run there (a town built at import)
    makes every run of the suite wait for it, before any test, whatever it selects."""
    proc = subprocess.run([sys.executable, "-c", BLOCK_EXTRAS], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]


def _shadow_townlet(where: Path) -> Path:
    """A package named townlet under ``where`` that fails on import."""
    (where / "townlet").mkdir(parents=True)
    (where / "townlet" / "__init__.py").write_text('raise SystemExit("a shadow townlet")\n')
    return where


def test_benchmark_children_import_the_benchmarks_own_townlet(tmp_path, monkeypatch):
    """Old bench: its children imported whatever townlet came first on their own path (the
    installed one, from a temporary directory), so an A/B from an old tree timed new code."""
    monkeypatch.setenv("PYTHONPATH", str(_shadow_townlet(tmp_path / "on_path")))
    cwd = _shadow_townlet(tmp_path / "cwd")
    python, env = bench.child_python()
    out = subprocess.run([*python, "-c", "import townlet; print(townlet.__file__)"], env=env,
                         cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Path(out.stdout.strip()).resolve() == Path(townlet.__file__).resolve()


def test_benchmark_cold_start_leaves_the_working_directory_alone(tmp_path, monkeypatch,
                                                                  tmp_path_factory):
    """...and its cold start runs the benchmark's own townlet (a shadow first on the path
    would fail it)."""
    monkeypatch.setenv("PYTHONPATH", str(_shadow_townlet(tmp_path_factory.mktemp("shadow"))))
    monkeypatch.chdir(tmp_path)
    assert bench._cold_start() > 0
    assert list(tmp_path.iterdir()) == []
