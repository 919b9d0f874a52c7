"""The dashboard (Textual pilot) against a real running town: console, publisher, keys."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import timedelta

import pytest
from rich.console import Console
from textual.widgets import Static, TabbedContent
from _live_town import LiveTown
from telemetry_helpers import no_shm_leak  # noqa: F401 - autouse fixture

from townlet.security import issue_key, parse_ttl, revoke_keys
from townlet.security.registry import utcnow
from townlet.ui.agents_view import AgentDetail, AgentsView
from townlet.ui.app import DashboardApp
from townlet.ui.mapview import MapView
from townlet.ui.panels import HeaderBar, HealthPanel, TownPanel

SIZE = (180, 50)


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    t = LiveTown(tmp_path_factory.mktemp("dash"))
    yield t
    t.close()


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


def test_panels_populate_and_follow_incremental_updates(town):
    async def body():
        app = DashboardApp(town.login("viewer"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.frame is not None, "a first frame")
            header = app.query_one(HeaderBar)
            await until(pilot, lambda: "viewer1 as viewer" in text(header), "identity in header")
            first = app.frame.tick
            assert f"tick {first:,}" in text(header) or app.frame.tick > first
            assert "pop 300/300" in text(header)
            await until(pilot, lambda: app.frame.tick >= first + 10, "ten more ticks")
            await pilot.pause(0.1)
            assert f"tick {app.frame.tick:,}" in text(header)  # the header follows the deltas
            assert "live" in text(header)
            assert "agents in view" in text(app.query_one(MapView))
            summary = text(app.query_one("#agent-summary"))
            assert "300 agents match" in summary
            app.query_one(TabbedContent).active = "tab-town"
            await until(pilot, lambda: "money/capita" in text(app.query_one(TownPanel)),
                        "the town panel")
            town_text = text(app.query_one(TownPanel))
            for label in ("hunger", "prices", "shifts", "queues", "perturbations",
                          "events by hour"):
                assert label in town_text
            app.query_one(TabbedContent).active = "tab-health"
            await until(pilot, lambda: "publisher" in text(app.query_one(HealthPanel)),
                        "publisher health")
            assert "simulation" in text(app.query_one(HealthPanel))
    run(body())
