"""Helpers for the dashboard's pilot tests: what a widget shows, waiting on a condition,
and what the command palette offers."""

from __future__ import annotations

import asyncio
import io
import time

from rich.console import Console
from textual.command import CommandList
from textual.widgets import Input, Static

__all__ = ["SIZE", "palette_names", "run", "text", "type_and_enter", "until"]

SIZE = (180, 50)


def text(widget) -> str:
    """What a panel shows now, as plain text (Static's content, or a widget's render)."""
    shown = widget.content if isinstance(widget, Static) else widget.render()
    if isinstance(shown, str):
        return shown
    console = Console(width=400, record=True, color_system=None, file=io.StringIO())
    console.print(shown)
    return console.export_text()


async def until(pilot, cond, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def run(coro):
    return asyncio.run(coro)


async def type_and_enter(pilot, app, value: str) -> None:
    app.screen.query_one(Input).value = value
    await pilot.press("enter")


async def palette_names(pilot, app, query: str) -> list[str]:
    """Console commands the palette offers for ``query``."""
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    app.screen.query_one(Input).value = query
    options = app.screen.query_one(CommandList)

    def shown() -> list[str]:
        return [str(options.get_option_at_index(i).prompt).split("\n")[0]
                for i in range(options.option_count)]

    # discovery lists every command (help first); the search result for the query does not
    await until(pilot, lambda: "console: help" not in shown(), "the search result")
    names = shown()
    await pilot.press("escape")
    return [n.removeprefix("console: ") for n in names if n.startswith("console: ")]
