"""townlet.world.prefetch: a compiled prefetch is a hint only, even past an array's end."""

import numpy as np

from townlet.world.jit import kernel
from townlet.world.prefetch import prefetch, prefetch_at


@kernel
def _touch(rows, grid, i, y, x):
    """Prefetch rows[i] and grid[y, x] (any indices), then sum both arrays."""
    prefetch(rows, i)
    prefetch_at(grid, y, x)
    return rows.sum() + grid.sum()


def test_prefetch_changes_nothing_in_or_out_of_range():
    rows = np.arange(40, dtype=np.int32).reshape(10, 4)
    grid = np.arange(12, dtype=np.float32).reshape(3, 4)
    before = rows.copy(), grid.copy()
    expected = rows.sum() + grid.sum()
    for i, y, x in ((0, 0, 0), (9, 2, 3), (10, 3, 0), (-1, -1, -1), (1 << 20, 1 << 20, 5)):
        assert _touch(rows, grid, i, y, x) == expected
    assert np.array_equal(rows, before[0]) and np.array_equal(grid, before[1])
