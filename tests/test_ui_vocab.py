"""The dashboard names coded frame values as the world defines them (it cannot import the
world: it would load numba), so every name tuple is checked against the world's enum."""

from __future__ import annotations

from townlet.ui.vocab import EVENT_NAMES, GOAL_NAMES, SHIFT_NAMES, STAT_NAMES, event_name
from townlet.world.actions import Goal, Shift
from townlet.world.events import EventCode
from townlet.world.state import STAT


def test_names_match_the_worlds_enums():
    assert GOAL_NAMES == tuple(g.name.lower() for g in sorted(Goal))
    assert SHIFT_NAMES == tuple(s.name.lower() for s in sorted(Shift))
    assert STAT_NAMES == STAT
    assert EVENT_NAMES == tuple(c.name.lower() for c in sorted(EventCode))
    assert [int(c) for c in sorted(EventCode)] == list(range(1, len(EVENT_NAMES) + 1))


def test_unknown_codes_show_as_numbers():
    assert event_name(int(EventCode.AGENT_DIED)) == "agent_died"
    assert event_name(0) == "0" and event_name(len(EVENT_NAMES) + 1) == str(len(EVENT_NAMES) + 1)
