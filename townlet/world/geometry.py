"""Town geometry: a street grid of walled 7x7 buildings, and O(1) navigation.

Blocks repeat every ``PERIOD`` tiles; the rows and columns between blocks are
streets, so every street tile connects to every other. A building's walls are
its outer ring; its door is the middle of the south wall. Inside, objects sit on
local row 1 (slots 0-4, used from row 2) and on row 4 (slots 5-8, used from
row 3); column 3 of row 4 is the corridor from the door. Because the layout is
regular, the next step toward any target is computed arithmetically: no path
search and no per-destination distance fields.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from townlet.world.jit import inline_kernel, kernel

__all__ = ["PERIOD", "SIDE", "SLOTS", "SLOT_LOCAL", "TILE", "WALKABLE", "building_of",
           "next_step", "origin", "outside_door", "walkable"]

PERIOD = 8
SIDE = 7
SLOTS = 9
DOOR_LX, DOOR_LY = 3, 6
CENTER_LX, CENTER_LY = 3, 3


class TILE(IntEnum):
    """Tile kinds stored in ``tile_kind``."""

    STREET = 0
    FLOOR = 1
    WALL = 2
    DOOR = 3
    OBJECT = 4
    LOT = 5
    """An unbuilt block: impassable."""


WALKABLE = (TILE.STREET, TILE.FLOOR, TILE.DOOR)
"""Tile kinds agents may stand on (several per tile); ``walkable`` tests the same."""


# (object local x, object local y, access local x, access local y) per slot
SLOT_LOCAL = np.array(
    [(1, 1, 1, 2), (2, 1, 2, 2), (3, 1, 3, 2), (4, 1, 4, 2), (5, 1, 5, 2),
     (1, 4, 1, 3), (2, 4, 2, 3), (4, 4, 4, 3), (5, 4, 5, 3)], dtype=np.int16)


@inline_kernel
def walkable(kind):
    """Whether tile kind ``kind`` is one of ``WALKABLE``."""
    for k in WALKABLE:
        if kind == k:
            return True
    return False


@inline_kernel
def origin(b, blocks_w):
    """Top-left tile (the wall corner) of building ``b``."""
    return (b % blocks_w) * PERIOD + 1, (b // blocks_w) * PERIOD + 1


@inline_kernel
def outside_door(b, blocks_w):
    """The street tile just below building ``b``'s door (where arrivals appear)."""
    ox, oy = origin(b, blocks_w)
    return ox + DOOR_LX, oy + DOOR_LY + 1


@inline_kernel
def _corner(x, y):
    """``origin`` of the building containing tile (x, y), from the tile alone (a shift,
    where ``origin`` divides by the blocks' width: most agents stand in a building)."""
    return (x // PERIOD) * PERIOD + 1, (y // PERIOD) * PERIOD + 1


@inline_kernel
def building_of(x, y, blocks_w):
    """Building index containing tile (x, y), or -1 on a street."""
    if x % PERIOD == 0 or y % PERIOD == 0:
        return -1
    return (y // PERIOD) * blocks_w + (x // PERIOD)


@inline_kernel
def _sign(v):
    """-1, 0 or 1: the sign of v."""
    return int(v > 0) - int(v < 0)


@kernel
def _inside_step(lx, ly, tlx, tly):
    """Local step inside a building toward local target (tlx, tly)."""
    if lx == tlx and ly == tly:
        return 0, 0
    if ly >= 4 and tly >= 4:  # both in the lower part (rows 4-6): row 5 is open
        if lx != tlx and ly == 5:
            return _sign(tlx - lx), 0
        return 0, _sign(5 - ly) if ly != 5 else _sign(tly - ly)
    if ly >= 4:  # leave the lower part through column 3
        if lx != CENTER_LX:
            return (_sign(CENTER_LX - lx), 0) if ly == 5 else (0, _sign(5 - ly))
        return 0, -1
    if tly >= 4:  # go down through column 3
        if lx != CENTER_LX:
            return (_sign(CENTER_LX - lx), 0) if ly == 3 else (0, 1)
        return 0, 1
    if lx != tlx:  # rows 1-3 (objects only on row 1; rows 2-3 open)
        if ly == 1:
            return 0, 1
        return _sign(tlx - lx), 0
    return 0, _sign(tly - ly)


@inline_kernel
def next_step(x, y, tb, tlx, tly, blocks_w):
    """One 4-neighbour step from (x, y) toward local tile (tlx, tly) of building tb.

    Returns (dx, dy); (0, 0) when already there.
    """
    cb = building_of(x, y, blocks_w)
    if cb >= 0 and cb == tb:
        ox, oy = _corner(x, y)
        if x - ox == tlx and y - oy == tly:  # there: most agents at their place, no call
            return 0, 0
        return _inside_step(x - ox, y - oy, tlx, tly)
    if cb >= 0:  # inside another building: walk to its door, then out
        ox, oy = _corner(x, y)
        lx, ly = x - ox, y - oy
        if lx == DOOR_LX and ly == DOOR_LY:
            return 0, 1
        return _inside_step(lx, ly, DOOR_LX, DOOR_LY)
    gx, gy = outside_door(tb, blocks_w)
    if x == gx and y == gy:
        return 0, -1
    if y == gy:
        return _sign(gx - x), 0
    if x % PERIOD == 0:
        if y != gy:
            return 0, _sign(gy - y)
        return _sign(gx - x), 0
    # on a horizontal street, away from the target row: go to the nearest vertical street
    return (-1, 0) if x % PERIOD <= PERIOD // 2 else (1, 0)
