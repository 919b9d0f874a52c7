"""The town map: pan, zoom, follow an agent; draws only the cells on screen.

Rendering asks :mod:`townlet.ui.mapgrid` for the visible window only, so its cost
does not grow with the map or (beyond one mask) with the population. Zoom doubles
the tiles per cell; zoomed out, cells show agent density.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget

from townlet.ui.frame import Frame
from townlet.ui.mapgrid import Viewport, cells, glyph_rows, town_bounds

__all__ = ["MAX_ZOOM", "MapView", "Unfollow"]

MAX_ZOOM = 64


class Unfollow(Message):
    """The operator panned away from the followed agent."""


class MapView(Widget, can_focus=True):
    """Agents (density glyphs), objects (initials) and the followed agent (``@``)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "pan(-1, 0)", "pan", show=False),
        Binding("right,l", "pan(1, 0)", "pan", show=False),
        Binding("up,k", "pan(0, -1)", "pan", show=False),
        Binding("down,j", "pan(0, 1)", "pan", show=False),
        Binding("plus,equals_sign", "zoom(-1)", "zoom in"),
        Binding("minus", "zoom(1)", "zoom out"),
    ]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.frame: Frame | None = None
        self.follow = -1
        self.x0 = 0
        self.y0 = 0
        self.zoom = 1
        self.fitted = False

    def show(self, frame: Frame, follow: int) -> None:
        self.frame, self.follow = frame, follow
        if not self.fitted and self.size.width > 0:
            self.fit()
        self.refresh()

    def fit(self) -> None:
        """Zoom out until the whole town fits."""
        if self.frame is None:
            return
        w, h = town_bounds(self.frame.cols)
        cols, rows = max(1, self.size.width), max(1, self.size.height - 1)
        self.zoom = 1
        while self.zoom < MAX_ZOOM and (w > cols * self.zoom or h > rows * self.zoom):
            self.zoom *= 2
        self.x0 = self.y0 = 0
        self.fitted = True

    def viewport(self) -> Viewport:
        vp = Viewport(self.x0, self.y0, max(1, self.size.width), max(1, self.size.height - 1),
                      self.zoom)
        if self.frame is not None and 0 <= self.follow < self.frame.cols["agent_x"].size:
            vp = vp.centred(int(self.frame.cols["agent_x"][self.follow]),
                            int(self.frame.cols["agent_y"][self.follow]))
        return vp

    def action_pan(self, dx: int, dy: int) -> None:
        vp = self.viewport()
        step = max(1, vp.cols * vp.zoom // 8)
        self.x0, self.y0 = vp.x0 + dx * step, vp.y0 + dy * step
        self.follow = -1
        self.app.post_message(Unfollow())
        self.refresh()

    def action_zoom(self, direction: int) -> None:
        vp = self.viewport()
        cx, cy = vp.x0 + vp.cols * vp.zoom // 2, vp.y0 + vp.rows * vp.zoom // 2
        self.zoom = min(MAX_ZOOM, max(1, self.zoom * 2 if direction > 0 else self.zoom // 2))
        c = Viewport(0, 0, vp.cols, vp.rows, self.zoom).centred(cx, cy)
        self.x0, self.y0 = c.x0, c.y0
        self.refresh()

    def render(self) -> Text:
        if self.frame is None:
            return Text("no frame yet", style="italic")
        vp = self.viewport()
        count, objs, me = cells(self.frame.cols, vp, self.follow)
        rows = glyph_rows(count, objs, vp.zoom)
        title = (f"x {vp.x0}..{vp.x0 + vp.cols * vp.zoom - 1}  y {vp.y0}.."
                 f"{vp.y0 + vp.rows * vp.zoom - 1}  zoom 1:{vp.zoom}  "
                 f"{int(count.sum()):,} agents in view"
                 + (f"  following #{self.follow}" if self.follow >= 0 else ""))
        out = Text(title + "\n", style="bold")
        for r, line in enumerate(rows):
            if me is not None and me[0] == r:
                out.append(line[:me[1]])
                out.append("@", style="bold reverse red")
                out.append(line[me[1] + 1:] + "\n")
            else:
                out.append(line + "\n")
        return out
