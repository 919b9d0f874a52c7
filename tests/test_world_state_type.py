"""The typed ``State`` (townlet/world/state_tuple.py) is generated from ``FIELDS`` and
kept in step with it."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from townlet.world import state
from townlet.world.state_codegen import TARGET, render
from townlet.world.state_tuple import State


def test_generated_state_type_is_up_to_date():
    assert TARGET.read_text() == render(), "run: python -m townlet.world.state_codegen"


def test_every_field_is_a_typed_attribute_with_its_dtype():
    hints = typing.get_type_hints(State)
    assert State._fields == tuple(f.name for f in state.FIELDS)
    for f in state.FIELDS:
        assert typing.get_args(typing.get_args(hints[f.name])[1])[0] is np.dtype(f.dtype).type


def test_a_stale_state_type_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(state, "State", typing.NamedTuple("State", [("agent_alive", int)]))
    with pytest.raises(RuntimeError, match="python -m townlet.world.state_codegen"):
        state.allocate({"N": 1})
