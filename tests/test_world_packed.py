"""Packed state entries have names, and loading checks each entry against its own range
(a snapshot taken after the first employment exit loads: issue 11 item 1)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from worlds import small_world

from townlet.world.state import FIELDS, PACKED, Ctl, ExitMeta, PertMeta
from townlet.world.validate import ENTRY_RANGES, StateRangeError


def test_every_packed_entry_is_named_and_has_a_range() -> None:
    dims = {f.name: f.dims for f in FIELDS}
    for name, entries in PACKED.items():
        assert dims[name][-1] == len(entries), name
        assert set(ENTRY_RANGES[entries]) == set(entries), name


@pytest.fixture(scope="module")
def world():
    w = small_world(agents=20)
    for _ in range(3):
        w.step()
    return w


def _with(world, changes: dict[tuple[str, int], int]) -> dict[str, np.ndarray]:
    sections = {k: v.copy() for k, v in world.sections().items()}
    for (name, entry), value in changes.items():
        sections[name][..., entry] = value
    return sections


def test_state_after_employment_exits_loads(world) -> None:
    """Day 5: exits processed, the last one at tick 7200. The old check applied the
    queue bound (65) to every entry of exit_meta and refused this state."""
    state = _with(world, {("clock", 0): 7300, ("exit_meta", ExitMeta.LAST_TICK): 7200,
                          ("exit_meta", ExitMeta.EXITS_TODAY): 3,
                          ("pert_meta", PertMeta.NEXT_ID): 900,
                          ("pert_meta", PertMeta.LAST_SCHEDULED): 7100})
    w = small_world(agents=20)
    w.load_sections(state)
    assert int(w.view("exit_meta")[ExitMeta.LAST_TICK]) == 7200
    w.step()
    assert w.tick == 7301


@pytest.mark.parametrize(("name", "entry", "value", "shown"), [
    # the exit ring has a slot per agent (20 here)
    ("exit_meta", ExitMeta.HEAD, 20, "exit_meta[HEAD]': value 20 outside [0, 20)"),
    ("exit_meta", ExitMeta.LENGTH, 21, "exit_meta[LENGTH]': value 21 outside [0, 21)"),
    ("exit_meta", ExitMeta.BATCH, 5, "exit_meta[BATCH]': value 5 outside [0, 2)"),
    ("ctl", Ctl.MORTALITY, 2, "ctl[MORTALITY]': value 2 outside [0, 2)"),
    ("ctl", Ctl.EXIT_CAP, -1, "ctl[EXIT_CAP]': value -1"),
    ("exit_meta", ExitMeta.LAST_TICK, 4, "exit_meta[LAST_TICK]': value 4 outside [0, 4)"),
    ("exit_meta", ExitMeta.EXITS_TODAY, -1, "exit_meta[EXITS_TODAY]': value -1"),
    ("pert_meta", PertMeta.NEXT_ID, -5, "pert_meta[NEXT_ID]': value -5"),
    ("agent_shift_ticks", 2, -1, "agent_shift_ticks[DONE]': value -1"),
])
def test_each_entry_is_checked_against_its_own_range(world, name, entry, value, shown) -> None:
    before = world.state_hash()
    with pytest.raises(StateRangeError, match=re.escape(shown)):
        world.load_sections(_with(world, {(name, entry): value}))
    assert world.state_hash() == before
