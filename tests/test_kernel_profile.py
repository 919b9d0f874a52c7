"""benchmarks/kernel_profile.py: the functions of the tick loaded from the kernel cache,
named at their addresses in memory (what perf needs to attribute samples)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from benchmarks.kernel_profile import pick, readable, symbols
from tests.worlds import small_world
from townlet.world.kernel import tick


def test_the_symbol_table_places_every_function_of_the_loaded_tick():
    small_world(agents=12).step()
    table = symbols()
    cres = next(iter(tick.overloads.values()))
    name = cres.fndesc.llvm_func_name
    entry = cres.library.get_pointer_to_function(name)
    assert [a for a, _, n in table if n == name] == [entry]  # where Numba calls it
    names = {readable(n) for _, _, n in table}
    assert {"townlet.world.kernel.turns", "townlet.world.social.chat"} <= names
    spans = [(a, a + size) for a, size, _ in table]
    assert all(end <= nxt for (_, end), (nxt, _) in pairwise(spans))  # no overlaps
    assert readable("_ZN7townlet5world6kernel5turnsB4v125xyz") == "townlet.world.kernel.turns"


def test_a_function_is_picked_by_its_readable_name_and_a_wrong_name_says_what_exists():
    small_world(agents=12).step()
    table = symbols()
    versions = pick(table, "townlet.world.social._partner")  # one per partner mode's type
    assert versions == [(a, n) for a, n, m in table if readable(m) == "townlet.world.social._partner"]
    assert versions and all(size > 0 for _, size in versions)
    with pytest.raises(SystemExit, match=r"no function 'townlet\.world\.social\.partner'.*"
                                         r"townlet\.world\.social\._partner"):
        pick(table, "townlet.world.social.partner")
