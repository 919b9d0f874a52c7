"""The agents table (filter, sort, select to follow) and the followed agent's detail.

The table shows at most ``TABLE_ROWS`` rows of the current query
(:mod:`townlet.ui.agent_query`); selecting a row posts :class:`FollowAgent`. A filter
with relationship terms posts :class:`RelatedWanted`; the app answers with the
console's bitmaps in :meth:`AgentsView.set_related`.
The detail panel draws the needs history the feed kept for that agent as
sparklines, its recent events from the stream, and its ties from the console.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static

from townlet.config.money import to_units
from townlet.config.world import NEEDS
from townlet.ui.agent_query import FIELDS, QueryError, Row, agent_rows, rel_terms
from townlet.ui.frame import Frame
from townlet.ui.panels import bars
from townlet.ui.vocab import Names

__all__ = ["TABLE_ROWS", "AgentDetail", "AgentTable", "AgentsView", "FollowAgent",
           "RelatedWanted"]

TABLE_ROWS = 60
"""Rows drawn: about a screenful (paging through a million agents is what filters are for)."""


_WIDTH = {"agent": 6, "wallet": 8, "job": 3, "goal": 6, "action": 9, "shift": 11, "x": 4,
          "y": 4, "food": 4}
_NAMED = {"goal": "agent_goal", "action": "agent_action", "shift": "agent_shift"}
"""Table fields shown by name (the vocabulary column naming their codes)."""


class FollowAgent(Message):
    def __init__(self, agent: int) -> None:
        super().__init__()
        self.agent = agent


class RelatedWanted(Message):
    """The filter's relationship terms changed: fetch these ``(kind, with_agent)``."""

    def __init__(self, keys: list[tuple[str, int | None]]) -> None:
        super().__init__()
        self.keys = keys


def _cell(field: str, v: float, names: Names) -> str:
    if field in _NAMED:
        return names.of(_NAMED[field], int(v))
    if field in NEEDS:
        return f"{v:.2f}"
    if field == "wallet":
        return f"{v:,.2f}"
    return str(int(v))


def _line(values: list[str]) -> str:
    return " ".join(v.rjust(max(len(f), _WIDTH.get(f, 6)))[:max(len(f), _WIDTH.get(f, 6))]
                    for f, v in zip(FIELDS, values, strict=True))


class AgentTable(Widget, can_focus=True):
    """The rows of the current query as one block of text with a cursor (cheap to redraw
    at frame rate, unlike a cell-by-cell table); Enter follows the agent under it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "up", show=False), Binding("down", "move(1)", "down",
                                                            show=False),
        Binding("pageup", "move(-20)", show=False), Binding("pagedown", "move(20)", show=False),
        Binding("enter", "select", "follow")]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.rows: list[Row] = []
        self.names = Names()
        self.cursor = 0

    @property
    def agent_under_cursor(self) -> int | None:
        return self.rows[self.cursor].agent if self.rows else None

    def show(self, rows: list[Row], names: Names) -> None:
        self.rows, self.names = rows, names
        self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.refresh()

    def action_move(self, by: int) -> None:
        self.cursor = min(max(0, self.cursor + by), max(0, len(self.rows) - 1))
        self.refresh()

    def action_select(self) -> None:
        agent = self.agent_under_cursor
        if agent is not None:
            self.post_message(FollowAgent(agent))

    def render(self) -> Text:
        out = Text(_line(list(FIELDS)) + "\n", style="bold")
        for k, r in enumerate(self.rows):
            cells = [str(r.agent), *(_cell(f, v, self.names)
                                     for f, v in zip(FIELDS[1:], r.values, strict=True))]
            out.append(_line(cells) + "\n", style="reverse" if k == self.cursor and self.has_focus
                       else ("bold" if k == self.cursor else ""))
        return out


class AgentsView(Vertical):
    """Filter box, sort key and the table of matching agents."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("o", "sort_next", "sort"), Binding("O", "sort_reverse", "reverse"),
                Binding("slash", "focus_filter", "filter")]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sort = "agent"
        self.descending = False
        self.filter_text = ""
        self.frame: Frame | None = None
        self.matching = 0
        self.related: dict[tuple[str, int | None], np.ndarray] = {}
        """Bitmaps of the filter's relationship terms, as the console last answered."""
        self.related_note = ""
        """The console's tick for those bitmaps, or why they are missing."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter, e.g. hunger<0.3 job=2 goal=work rel=rival  (Enter)",
                    id="agent-filter")
        yield Static("", id="agent-summary")
        yield AgentTable(id="agent-table")

    def on_mount(self) -> None:
        self.summary = self.query_one("#agent-summary", Static)
        self.table = self.query_one("#agent-table", AgentTable)
        self.filter_box = self.query_one("#agent-filter", Input)

    def show(self, frame: Frame) -> None:
        self.frame = frame
        summary = self.summary
        try:
            self.matching, rows = agent_rows(frame.cols, self.filter_text, self.sort,
                                             self.descending, TABLE_ROWS, self.related,
                                             frame.names)
        except QueryError as exc:
            note = f" ({self.related_note})" if self.related_note else ""
            summary.update(Text(f"{exc}{note}", style="bold red"))
            return
        self.table.show(rows, frame.names)
        order = "desc" if self.descending else "asc"
        summary.update(f"{self.matching:,} agents match; sorted by {self.sort} {order}; "
                       f"showing {len(rows)}" + (f"; {self.related_note}"
                                                 if self.related else ""))

    def set_related(self, related: dict[tuple[str, int | None], np.ndarray],
                    note: str) -> None:
        """The console's bitmaps for the filter's relationship terms (or why not)."""
        self.related, self.related_note = related, note
        if self.frame is not None:
            self.show(self.frame)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.filter_text = event.value.strip()
        self.table.focus()
        try:
            keys = sorted({t.key for t in rel_terms(self.filter_text)}, key=str)
        except QueryError:
            keys = []  # show() says what is wrong
        self.related = {k: v for k, v in self.related.items() if k in keys}
        self.related_note = ""
        self.post_message(RelatedWanted(keys))
        if self.frame is not None:
            self.show(self.frame)

    def action_sort_next(self) -> None:
        self.sort = FIELDS[(FIELDS.index(self.sort) + 1) % len(FIELDS)]
        if self.frame is not None:
            self.show(self.frame)

    def action_sort_reverse(self) -> None:
        self.descending = not self.descending
        if self.frame is not None:
            self.show(self.frame)

    def action_focus_filter(self) -> None:
        self.filter_box.focus()


class AgentDetail(Static):
    """The followed agent: state, needs sparklines, recent events, ties."""

    def show(self, frame: Frame, agent: int, history: tuple[np.ndarray, np.ndarray],
             events: np.ndarray, ties: dict[str, Any] | None) -> None:
        c = frame.cols
        if not 0 <= agent < c["agent_alive"].size:
            self.update(Text("select an agent in the table to follow it", style="italic"))
            return
        g = Table.grid(padding=(0, 1))
        g.add_column(style="bold")
        g.add_column()
        alive = bool(c["agent_alive"][agent])
        named = frame.names.of
        g.add_row(f"#{agent}", (f"at {int(c['agent_x'][agent])},{int(c['agent_y'][agent])}  "
                               f"goal {named('agent_goal', int(c['agent_goal'][agent]))}  "
                               f"shift {named('agent_shift', int(c['agent_shift'][agent]))}  "
                               f"job {int(c['agent_job'][agent])}  "
                               f"wallet {to_units(int(c['agent_wallet'][agent])):,.2f}")
                  if alive else "not alive")
        ticks, rows = history
        for k, name in enumerate(NEEDS):
            now = float(c["agent_needs"][agent, k])
            line = bars(np.round(rows[-60:, k] * 100).astype(np.int64)) if len(ticks) else ""
            g.add_row(name, f"{now:.2f} {line}")
        for row in events[-5:][::-1].tolist():
            code, tick, a, other, obj, _value = row
            g.add_row(f"t{tick}", named("code", code) + (f" with #{other}" if other >= 0
                                                         and other != agent else "")
                      + (f" by #{a}" if a != agent else "") + (f" obj {obj}" if obj >= 0 else ""))
        if ties:
            friends = ", ".join(f"#{t['other']} ({t['trust']:+.2f})" for t in ties["friends"][:4])
            rivals = ", ".join(f"#{t['other']} ({t['rivalry']:.2f})" for t in ties["rivals"][:4])
            g.add_row("friends", friends or "-")
            g.add_row("rivals", rivals or "-")
        self.update(g)
