"""The kernel cache follows the sources: after editing a helper in another file the
new code runs, an unchanged tree reuses the cache, and old fingerprints are pruned."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import townlet
from townlet.world._cache import KEEP, prune

CALLER = '''
from townlet.world._probe_helper import helper
from townlet.world.jit import kernel


@kernel
def probe(x):
    return helper(x) + 1
'''
HELPER = '''
from townlet.world.jit import kernel


@kernel
def helper(x):
    return x * {factor}
'''
SCRIPT = """
import json, townlet
from townlet.world._probe import probe
print(json.dumps({"file": townlet.__file__, "value": probe(10),
                  "hits": sum(probe.stats.cache_hits.values())}))
"""


def _probe(src: Path, cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.fspath(src), "NUMBA_CACHE_DIR": os.fspath(cache)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=src, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_editing_a_helper_in_another_file_takes_effect(tmp_path):
    src, cache = tmp_path / "src", tmp_path / "cache"
    package = src / "townlet"
    shutil.copytree(Path(townlet.__file__).parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (package / "world" / "_probe.py").write_text(CALLER)
    helper = package / "world" / "_probe_helper.py"
    helper.write_text(HELPER.format(factor=2))

    first = _probe(src, cache)
    assert first["file"] == os.fspath(package / "__init__.py")
    assert (first["value"], first["hits"]) == (21, 0)
    again = _probe(src, cache)
    assert (again["value"], again["hits"]) == (21, 1), "an unchanged tree reuses the cache"

    helper.write_text(HELPER.format(factor=3))
    edited = _probe(src, cache)
    assert (edited["value"], edited["hits"]) == (31, 0), "the edited helper runs"
    assert len(list((cache / "townlet-kernels").iterdir())) == 2


def test_only_the_most_recently_used_fingerprints_are_kept(tmp_path):
    names = [f"{i:016x}" for i in range(6)]
    for age, name in enumerate(names):
        (tmp_path / name / "world").mkdir(parents=True)
        os.utime(tmp_path / name, (1_000_000 - age, 1_000_000 - age))
    (tmp_path / "not-a-fingerprint").mkdir()
    removed = prune(tmp_path, current=names[-1])
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*names[:KEEP - 1], names[-1], "not-a-fingerprint"])
    assert sorted(p.name for p in removed) == sorted(names[KEEP - 1:-1])

