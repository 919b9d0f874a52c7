"""Where tile (y, x) of the grid sits in ``tile_head``: blocks of 4 x 4 tiles per line.

``tile_head`` holds one 4-byte agent index per tile. Stored row by row, the three rows
of a 3 x 3 neighbourhood (a meeting, a chat, a step) are three cache lines a grid row
apart (17.8 KB at 1M agents). Stored as ``(H4, X4, 16)``, the 16 tiles of a 4 x 4 block
fill one 64-byte line, so a neighbourhood spans 2.25 lines on average instead of 3.4,
and a district's tiles fill fewer lines. The padding (rows and columns up to a
multiple of 4) is never stood on: it stays -1.

:func:`grid` and :func:`blocked` convert to and from the logical (H, X) grid: hashes and
snapshots of earlier layouts use that, so they do not depend on the layout.
"""

from __future__ import annotations

import numpy as np

from townlet.world.jit import inline_kernel

__all__ = ["SHIFT", "SIDE", "blocked", "blocks", "grid", "head_at"]

SHIFT = 2
SIDE = 1 << SHIFT
"""Tiles per side of a block: 4 x 4 four-byte heads fill one 64-byte cache line."""
_MASK = SIDE - 1


def blocks(h: int, x: int) -> tuple[int, int]:
    """Block rows and block columns of an h x x grid (H4, X4)."""
    return -(-h // SIDE), -(-x // SIDE)


@inline_kernel
def head_at(y, x):
    """The index of tile (y, x) in ``tile_head``: block row, block column, place."""
    return y >> SHIFT, x >> SHIFT, ((y & _MASK) << SHIFT) | (x & _MASK)


def grid(heads: np.ndarray, h: int, x: int) -> np.ndarray:
    """The logical (h, x) grid of a blocked ``heads`` array (a copy)."""
    h4, x4 = heads.shape[:2]
    full = heads.reshape(h4, x4, SIDE, SIDE).transpose(0, 2, 1, 3).reshape(h4 * SIDE, x4 * SIDE)
    return np.ascontiguousarray(full[:h, :x])


def blocked(logical: np.ndarray, fill: int = -1) -> np.ndarray:
    """The blocked ``(H4, X4, 16)`` array of a logical (h, x) grid, padding ``fill``."""
    h, x = logical.shape
    h4, x4 = blocks(h, x)
    full = np.full((h4 * SIDE, x4 * SIDE), fill, dtype=logical.dtype)
    full[:h, :x] = logical
    return np.ascontiguousarray(
        full.reshape(h4, SIDE, x4, SIDE).transpose(0, 2, 1, 3).reshape(h4, x4, SIDE * SIDE))
