"""benchmarks/kernel_profile.py: the functions of the tick loaded from the kernel cache,
named at their addresses in memory (what perf needs to attribute samples)."""

from __future__ import annotations

from itertools import pairwise

from benchmarks.kernel_profile import readable, symbols
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
