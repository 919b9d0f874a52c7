"""The suite's kernel warm-up (tests/_warm.py): every scenario ran, and what it compiled
loads from the cache; a test's ``warm`` mark is checked and waited for outside its timeout.
Named to run last: it waits for the whole warm-up, which by then has long ended, instead of
holding up the tests that run beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._warm import SCENARIOS, WARMER, scenarios_named

ROOT = Path(__file__).resolve().parent.parent
WARM_CHECK = """
import json
from tests._warm import ENTRIES, SCENARIOS, dispatcher
for _, run, _ in SCENARIOS:
    run()
print(json.dumps({entry: [sum(dispatcher(entry).stats.cache_hits.values()),
                          sum(dispatcher(entry).stats.cache_misses.values())] for entry in ENTRIES}))
"""


@pytest.mark.timeout(900)  # run alone on a fresh clone, it waits for the warm-up's compiles
def test_the_warm_up_leaves_every_scenario_to_load_from_the_cache(pytestconfig):
    """The session's warm-up (tests/_warm.py) ran every scenario, and another process, with
    another thread count, then loads each scenario's kernels from the cache: a test that
    waited for the warm-up does not compile them again."""
    warmer = pytestconfig.stash.get(WARMER, None)
    if warmer is None:
        pytest.skip("no warm-up in this session (NUMBA_DISABLE_JIT=1)")
    warmer.wait(SCENARIOS[-1][0], started=False)
    assert warmer.proc.wait() == 0, warmer.log.read_text()[-3000:]
    assert warmer.done == {name for name, _, _ in SCENARIOS}
    out = subprocess.run([sys.executable, "-c", WARM_CHECK], cwd=ROOT,
                         env={**os.environ, "NUMBA_NUM_THREADS": "3"}, capture_output=True,
                         text=True, timeout=600, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded and all(hits > 0 and misses == 0 for hits, misses in loaded.values()), loaded


def test_a_warm_mark_is_checked_and_waited_for_outside_the_timeout(pytestconfig, tmp_path):
    """A ``warm`` mark names scenarios (a misspelt one stops the run at collection, it would
    wait for nothing), and the conftest's wrapper that waits for them runs outside
    pytest-timeout's: pluggy calls the last wrapper first, outermost."""
    order = [impl.plugin_name for impl in
             pytestconfig.pluginmanager.hook.pytest_runtest_protocol.get_hookimpls()]
    conftest = str(ROOT / "tests" / "conftest.py")
    assert order.index(conftest) > order.index("timeout"), order
    assert scenarios_named(("plain", "tick")) == ("plain", "tick")
    for bad, why in (((), "names no scenario"), (("plian",), "no such kernel warm-up"),
                     ((3,), "no such kernel warm-up")):
        with pytest.raises(ValueError, match=why):
            scenarios_named(bad)
    (tmp_path / "test_marked.py").write_text(
        "import pytest\n\n@pytest.mark.warm('plian')\ndef test_x():\n    pass\n")
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-q",
                          "--collect-only", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                          str(tmp_path / "test_marked.py")], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == pytest.ExitCode.USAGE_ERROR, out.stdout + out.stderr
    assert "test_marked.py::test_x: warm('plian'): no such kernel warm-up scenario" in out.stderr
