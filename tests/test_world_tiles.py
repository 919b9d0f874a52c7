"""The blocked layout of ``tile_head``: one index for the kernel, the converters and the
hash (townlet.world.tiles)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tests.worlds import small_world
from townlet.world import social
from townlet.world.geometry import WALKABLE
from townlet.world.state import FIELDS
from townlet.world.tiles import SIDE, blocked, blocks, grid, head_at


@pytest.mark.parametrize("h, x", [(1, 1), (4, 4), (5, 6), (9, 13), (16, 3)])
def test_head_at_finds_every_tile_where_blocked_puts_it(h: int, x: int) -> None:
    logical = np.arange(h * x, dtype=np.int32).reshape(h, x)
    heads = blocked(logical)
    assert heads.shape == (*blocks(h, x), SIDE * SIDE) and heads.flags.c_contiguous
    for y in range(h):
        for c in range(x):
            assert heads[head_at(y, c)] == logical[y, c], (y, c)
    assert (heads == -1).sum() == heads.size - h * x  # padding only
    assert np.array_equal(grid(heads, h, x), logical)


def test_a_block_is_four_rows_of_four_tiles_in_one_cache_line() -> None:
    heads = blocked(np.arange(8 * 8, dtype=np.int32).reshape(8, 8))
    assert heads.itemsize * SIDE * SIDE == 64
    assert heads[0, 0].tolist() == [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]
    assert heads[1, 1, 0] == 4 * 8 + 4


def test_the_state_hash_reads_tile_heads_as_the_row_by_row_grid() -> None:
    """The hash of the blocked state equals the hash the row-by-row layout gave, so no
    digest moved with the layout."""
    w = small_world(agents=40)
    for _ in range(5):
        w.step()
    live = w.sections()
    h = hashlib.sha256()
    for f in FIELDS:
        arr = live[f.name]
        if f.name == "tile_head":
            arr = grid(arr, *live["tile_kind"].shape)
            assert arr.shape == live["tile_kind"].shape and (arr >= 0).sum() > 0
        h.update(f"{f.name}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).data)
    assert w.state_hash() == h.hexdigest()


def test_a_neighbour_is_found_in_each_block_around_a_block_corner() -> None:
    """An agent on the corner tile of a block has neighbours in four blocks: each of the
    eight is found alone."""
    w = small_world(agents=10)
    for i in range(10):
        w.possess(i)
    free = np.isin(w.view("tile_kind"), WALKABLE)
    h, wd = free.shape
    x, y = next((x, y) for y in range(SIDE, h - 1, SIDE) for x in range(SIDE, wd - 1, SIDE)
                if free[y - 1:y + 2, x - 1:x + 2].all())  # its 3 x 3 spans four blocks
    py, px = next((py, px) for py, px in np.argwhere(free)
                  if max(abs(py - y), abs(px - x)) > 1)  # far from it: no neighbour there
    w.teleport(0, x, y)
    for i in range(1, 10):
        w.teleport(i, int(px), int(py))
    assert social._partner(w._ks, w._kp, 0, 5, social.ANYONE) == -1
    for k in range(9):
        dy, dx = k // 3 - 1, k % 3 - 1
        if dy == dx == 0:
            continue
        w.teleport(1, x + dx, y + dy)
        assert social._partner(w._ks, w._kp, 0, 5, social.ANYONE) == 1, (dy, dx)
        w.teleport(1, int(px), int(py))
