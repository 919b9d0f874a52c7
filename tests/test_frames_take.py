"""The writer checks sections once per array: a tick that hands over the same arrays
costs one lookup and identity test, and any replaced, missing or mistyped section is
still taken afresh or refused, naming it."""

from __future__ import annotations

import numpy as np
import pytest
from telemetry_helpers import no_shm_leak  # noqa: F401 - autouse fixture
from telemetry_writer import make_state, step

from townlet.frames import FrameReader, FrameRing, SchemaError
from townlet.frames.schema import STATE_COLUMNS


def _latest(ring: FrameRing):
    with FrameReader(ring.name, ring.schema) as reader:
        frame = reader.read_latest()
        return ({name: frame.columns[name].copy() for name in STATE_COLUMNS},
                frame.events.copy())


def test_a_replaced_array_is_taken_afresh_after_unchanged_ticks():
    state = make_state(200, seed=5)
    rng = np.random.default_rng(1)
    with FrameRing.from_sections(state, config_id="c", ticks_per_day=100,
                                 doorbell=None) as ring:
        for tick in range(1, 4):  # the same arrays: the identity fast path
            step(state, rng, tick, 0.3)
            ring.publish(tick, state)
        columns, events = _latest(ring)
        n = int(state["evt_len"][0])
        assert np.array_equal(columns["agent_x"], state["agent_x"])
        assert np.array_equal(events["code"], state["evt_code"][:n])
        swapped = dict(state)
        swapped["agent_x"] = state["agent_x"] + 3  # a new array of the same type
        swapped["evt_agent"] = np.roll(state["evt_agent"], 1)
        ring.publish(4, swapped)
        columns, events = _latest(ring)
        assert np.array_equal(columns["agent_x"], state["agent_x"] + 3)
        assert np.array_equal(events["agent"], swapped["evt_agent"][:n])
        ring.publish(5, state)  # and back
        columns, _ = _latest(ring)
        assert np.array_equal(columns["agent_x"], state["agent_x"])
        ring.flush(6, state)  # a flush points the event parts at copies ...
        step(state, rng, 7, 0.3)
        ring.publish(7, state)  # ... so the next tick takes the live arrays again
        n = int(state["evt_len"][0])
        _, events = _latest(ring)
        assert np.array_equal(events["code"], state["evt_code"][:n])


@pytest.mark.parametrize(("name", "bad", "message"), [
    ("agent_y", lambda a: a.astype(np.int32), "'agent_y': expected contiguous"),
    ("evt_code", lambda a: a[::2], "'evt_code': expected contiguous"),
    ("obj_x", None, "'obj_x' is missing"),
])
def test_a_bad_section_after_unchanged_ticks_is_refused_by_name(name, bad, message):
    state = make_state(200, seed=6)
    with FrameRing.from_sections(state, config_id="c", ticks_per_day=100,
                                 doorbell=None) as ring:
        for tick in range(1, 3):
            ring.publish(tick, state)
        broken = dict(state)
        if bad is None:
            del broken[name]
        else:
            broken[name] = bad(state[name])
        with pytest.raises(SchemaError, match=message):
            ring.publish(3, broken)
        assert ring.publish(4, state) > 0  # the ring is still usable
