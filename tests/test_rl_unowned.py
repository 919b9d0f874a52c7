"""``townlet.rl.unowned``: arrays and named tuples of them without reference counting
still read and write the caller's memory, field by field."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from numba import njit

from townlet.rl.unowned import unowned

Inner = collections.namedtuple("Inner", ["grid", "scale"])
Outer = collections.namedtuple("Outer", ["values", "inner", "flag"])


@njit
def _rows_doubled(a):
    """Write every row through a per-row view of the unowned array (the pattern of
    the per-agent passes); returns the sum read back."""
    a = unowned(a)
    total = 0.0
    for i in range(a.shape[0]):
        row = a[i]
        for k in range(row.shape[0]):
            row[k] *= 2.0
            total += row[k]
    return total


@njit
def _through_tuple(t):
    t = unowned(t)
    for i in range(t.values.shape[0]):
        t.values[i] += t.inner.scale
    t.inner.grid[1, 1] = 7
    return t.values.sum() if t.flag else -1.0


def test_an_unowned_array_is_the_callers_memory():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    want = a.sum() * 2
    assert _rows_doubled(a) == want
    assert (a == np.arange(12).reshape(3, 4) * 2).all()
    assert _rows_doubled(a) == want * 2  # the array keeps working after the call


def test_a_named_tuple_keeps_its_fields_nested_ones_too():
    t = Outer(values=np.zeros(4), inner=Inner(grid=np.zeros((3, 3), np.int32), scale=1.5),
              flag=True)
    assert _through_tuple(t) == pytest.approx(6.0)
    assert (t.values == 1.5).all()
    assert t.inner.grid[1, 1] == 7 and t.inner.grid.sum() == 7
    for _ in range(1000):  # nothing leaks or is freed early across many calls
        _through_tuple(t)
    assert t.values[0] == pytest.approx(1.5 * 1001)


def test_an_unsupported_value_is_a_typing_error():
    @njit
    def bad(x):
        return unowned(x)

    with pytest.raises(Exception, match="unowned"):
        bad([1, 2, 3])
