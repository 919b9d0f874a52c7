"""A ``townlet._core`` built from other sources than the checkout's fails at import with
how to rebuild it (townlet.frames.core_digest), not with a missing symbol later; an
installed package without the sources imports."""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from townlet.frames import core_digest

ROOT = Path(__file__).resolve().parent.parent
IMPORTS = "import townlet.frames.writer, townlet.frames.reader, townlet.publish.diff"


def tree(tmp_path: Path, sources: bool) -> Path:
    """A source tree whose package is this checkout's (with its built extension), and
    with copies of the C sources and the build script when ``sources``."""
    root = tmp_path / "tree"
    root.mkdir(parents=True)
    (root / "townlet").symlink_to(ROOT / "townlet", target_is_directory=True)
    if sources:
        shutil.copytree(ROOT / "core", root / "core")
        shutil.copytree(ROOT / "bindings", root / "bindings")
    return root


def run_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", IMPORTS], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("edited", ["core/frame.c", "core/ring.h", "bindings/build_core.py"])
def test_an_extension_built_from_other_sources_fails_import_with_how_to_rebuild(
        tmp_path: Path, edited: str) -> None:
    root = tree(tmp_path, sources=True)
    with (root / edited).open("a") as f:
        f.write("\n/* changed by a pull */\n" if edited.endswith((".c", ".h")) else "\n# pulled\n")
    out = run_imports(root)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: townlet._core was built from other sources"), last
    assert "python bindings/build_core.py" in last and str(root / "core") in last


def test_the_checkout_and_an_installed_package_import(tmp_path: Path) -> None:
    """The built extension matches the checkout's sources; a package without them (an
    installed wheel) is not compared and imports."""
    assert core_digest.checkout_root() == ROOT
    for sources in (True, False):
        root = tree(tmp_path / str(sources), sources)
        out = run_imports(root)
        assert out.returncode == 0, out.stderr


def test_an_extension_without_a_digest_says_how_to_rebuild() -> None:
    """Built before digests existed (an older core/): refused, sources or not."""
    for root in (ROOT, None):
        reason = core_digest.stale_reason(None, root)
        assert reason is not None and "python bindings/build_core.py" in reason
    assert core_digest.stale_reason(core_digest.digest(ROOT), ROOT) is None


def test_the_in_place_build_writes_the_one_extension_the_install_writes(tmp_path: Path) -> None:
    """``python bindings/build_core.py`` writes ``townlet/_core.abi3.so``, the name
    ``pip install -e .`` gives it, and removes any other ``_core`` extension: a
    ``_core.cpython-*.so`` left beside it would be imported first."""
    from setuptools.command.build_ext import get_abi3_suffix

    root = tmp_path / "tree"
    for part in ("core", "bindings"):
        shutil.copytree(ROOT / part, root / part)
    shutil.copytree(ROOT / "townlet", root / "townlet",
                    ignore=shutil.ignore_patterns("__pycache__", "_core.*"))
    installed = root / "townlet" / f"_core{get_abi3_suffix()}"
    older = root / "townlet" / f"_core{importlib.machinery.EXTENSION_SUFFIXES[0]}"
    for stale in (installed, older):
        stale.write_bytes(b"not an extension")
    built = subprocess.run([sys.executable, "bindings/build_core.py"], cwd=root,
                           capture_output=True, text=True, timeout=300, check=True)
    assert Path(built.stdout.strip()) == installed
    assert sorted(p.name for p in (root / "townlet").glob("_core.*")
                  if p.suffix == ".so") == [installed.name]
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = f"{IMPORTS}; import townlet._core as c; print(c.__file__)"
    imported = subprocess.run([sys.executable, "-c", script], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()) == installed
