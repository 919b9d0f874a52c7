"""What the map shows for a viewport: agent density per cell and objects, vectorised.

A viewport is a window of ``cols x rows`` cells, each covering ``zoom x zoom`` tiles,
with its top-left tile at ``(x0, y0)``. Only agents and objects inside the window
are counted (one mask and one ``bincount``), so the cost follows the agents, never
the map's area, and the drawing follows the screen: at 1M agents a frame costs a few
NumPy passes. Zoomed out, each cell shows how many agents it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from townlet.config.world import OBJECT_TYPES

__all__ = ["DENSITY", "OBJECTS_UP_TO_ZOOM", "OBJECT_GLYPHS", "Viewport", "cells", "glyph_rows", "town_bounds"]

DENSITY = " .:-=+*#%&"
"""Glyphs for increasing agents per cell (index = min(count, 9) scaled by the cell's area);
``@`` is kept for the followed agent."""
OBJECTS_UP_TO_ZOOM = 2
"""Objects are drawn up to this zoom; further out every cell holds some and would hide
the density."""
OBJECT_GLYPHS = {name: name[0].upper() for name in OBJECT_TYPES}
"""Each object type by its initial (bed B, shower S, ...); stove and shower share S."""


@dataclass(frozen=True)
class Viewport:
    x0: int
    y0: int
    cols: int
    rows: int
    zoom: int = 1

    def centred(self, x: int, y: int) -> Viewport:
        """The same window moved so tile (x, y) is in its middle."""
        return Viewport(x - self.cols * self.zoom // 2, y - self.rows * self.zoom // 2,
                        self.cols, self.rows, self.zoom)


def town_bounds(cols: Mapping[str, np.ndarray]) -> tuple[int, int]:
    """Width and height covering every object and living agent (frames carry no map size)."""
    alive = cols["agent_alive"] != 0
    used = cols["obj_type"] >= 0
    xs = [int(cols["obj_x"][used].max(initial=0)), int(cols["agent_x"][alive].max(initial=0))]
    ys = [int(cols["obj_y"][used].max(initial=0)), int(cols["agent_y"][alive].max(initial=0))]
    return max(xs) + 1, max(ys) + 1


def _window(x: np.ndarray, y: np.ndarray,
            vp: Viewport) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell column and row of the points inside the window, and the mask that chose them."""
    cx = (x.astype(np.int64) - vp.x0) // vp.zoom
    cy = (y.astype(np.int64) - vp.y0) // vp.zoom
    inside = (cx >= 0) & (cx < vp.cols) & (cy >= 0) & (cy < vp.rows)
    return cx[inside], cy[inside], inside


def cells(cols: Mapping[str, np.ndarray], vp: Viewport,
          follow: int = -1) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | None]:
    """(agents per cell ``rows x cols``, object type per cell or -1, followed agent's cell)."""
    alive = cols["agent_alive"] != 0
    ax, ay, _ = _window(cols["agent_x"][alive], cols["agent_y"][alive], vp)
    count = np.bincount(ay * vp.cols + ax, minlength=vp.rows * vp.cols)
    objs = np.full(vp.rows * vp.cols, -1, np.int64)
    if vp.zoom <= OBJECTS_UP_TO_ZOOM:  # further out they are not drawn: skip the pass
        used = cols["obj_type"] >= 0
        ox, oy, inside = _window(cols["obj_x"][used], cols["obj_y"][used], vp)
        objs[oy * vp.cols + ox] = cols["obj_type"][used][inside]
    me = None
    if 0 <= follow < alive.size and alive[follow]:
        sl = slice(follow, follow + 1)
        fx, fy, _ = _window(cols["agent_x"][sl], cols["agent_y"][sl], vp)
        if fx.size:
            me = (int(fy[0]), int(fx[0]))
    return count.reshape(vp.rows, vp.cols), objs.reshape(vp.rows, vp.cols), me


def glyph_rows(count: np.ndarray, objs: np.ndarray, zoom: int) -> list[str]:
    """One string per row: agent density; up to OBJECTS_UP_TO_ZOOM, objects by initial
    instead (lower case while agents share the cell)."""
    per = max(1, zoom * zoom // 4)  # a full cell at this zoom holds about zoom^2 / 4 agents
    level = np.minimum(-(-count // per), len(DENSITY) - 1)
    chars = np.array(list(DENSITY))[level]
    if zoom > OBJECTS_UP_TO_ZOOM:
        return ["".join(r) for r in chars.tolist()]
    glyphs = np.array([OBJECT_GLYPHS[n] for n in OBJECT_TYPES])
    has = objs >= 0
    chars[has & (count == 0)] = glyphs[objs[has & (count == 0)]]
    chars[has & (count > 0)] = np.char.lower(glyphs[objs[has & (count > 0)]])
    return ["".join(r) for r in chars.tolist()]
