"""The borrowed, refcount-free struct views the tick runs on (townlet.world.borrow)."""

from __future__ import annotations

import gc
import sys

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from tests.worlds import small_world
from townlet.world.borrow import borrowed
from townlet.world.params import kernel_params
from townlet.world.state import State, kernel_state


@njit
def _write_through(s, value):
    b = borrowed(s)
    b.clock[0] = value
    b.agent_x[1] = b.agent_x[0] + 1
    return b.agent_alive.shape[0], b.stats[0]


@njit
def _param_through(p):
    b = borrowed(p)
    return b.day, b.need_decay[0]


@njit
def _fill_and_sum_on(b):
    total = 0
    for i in range(b.agent_x.shape[0]):
        b.agent_x[i] = i  # a store through an array, between reads of the view's fields
        total += b.agent_x[i] + b.agent_y.shape[0]
    return total


@njit
def _fill_and_sum(s):
    return _fill_and_sum_on(borrowed(s))


def test_borrowed_view_reads_and_writes_the_same_arrays():
    w = small_world(agents=12)
    s = w.sections()
    s["stats"][0] = 5
    n, stat = _write_through(kernel_state(State(**s)), 1234)
    assert (n, stat) == (12, 5)
    assert w.tick == 1234
    assert w.view("agent_x")[1] == w.view("agent_x")[0] + 1
    day, decay = _param_through(kernel_params(w.params))
    assert day == w.config.world.ticks_per_day
    assert decay == np.float32(w.config.world.needs.hunger.decay)


def test_ticking_neither_leaks_nor_drops_references_to_the_state():
    w = small_world(agents=30)
    w.step()
    arrays = list(w.sections().values())
    before = [sys.getrefcount(a) for a in arrays]
    for _ in range(200):
        w.step()
    assert [sys.getrefcount(a) for a in arrays] == before
    del w
    gc.collect()
    control = sys.getrefcount(np.zeros(1))  # an array nobody else holds
    assert [sys.getrefcount(a) for a in arrays] == [control + 2] * len(arrays)  # list, loop var


def test_only_structs_can_be_borrowed():
    @njit
    def borrow_array(a):
        return borrowed(a)

    with pytest.raises(TypingError):
        borrow_array(np.zeros(3))


def test_view_fields_load_as_invariant_and_read_right_between_stores():
    w = small_world(agents=12)
    s = kernel_state(State(**w.sections()))
    assert _fill_and_sum(s) == sum(range(12)) + 12 * 12
    assert list(w.view("agent_x")) == list(range(12))
    llvm = _fill_and_sum_on.inspect_llvm(_fill_and_sum_on.signatures[0])
    assert "!invariant.load" in llvm  # LLVM may keep the fields in registers across stores
