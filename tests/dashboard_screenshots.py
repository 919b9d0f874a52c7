"""Regenerate the dashboard's SVG screenshots in docs/img/ against a real running town:
``python tests/dashboard_screenshots.py`` (not a test: the figures are for the docs)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _live_town import LiveTown

from townlet.security import issue_key, parse_ttl
from townlet.security.registry import utcnow
from townlet.ui.app import DashboardApp
from townlet.ui.screens import ProblemScreen

OUT = Path(__file__).resolve().parent.parent / "docs" / "img"
SIZE = (170, 48)


async def shoot(town: LiveTown) -> None:
    app = DashboardApp(town.login("operator"))
    async with app.run_test(size=SIZE) as pilot:
        while app.frame is None or not app.commands or app.frame.tick < 200:
            await pilot.pause(0.1)
        table = app.agents.table
        table.focus()
        await pilot.press("down", "down", "down", "down", "enter")
        while app.ties is None or len(app.feed.history()[0]) < 40:
            await pilot.pause(0.1)
        app.map.focus()
        await pilot.press("plus", "plus")
        await pilot.pause(0.6)
        app.save_screenshot("dashboard.svg", str(OUT))
        for tab in ("town", "health"):
            app.tabs.active = f"tab-{tab}"
            await pilot.pause(1.0)
            app.save_screenshot(f"dashboard-{tab}.svg", str(OUT))
    _, old = issue_key(town.kdir, "alice", "operator", parse_ttl("1m"),
                       now=utcnow() - timedelta(hours=2))
    app = DashboardApp(town.login(key=old))
    async with app.run_test(size=SIZE) as pilot:
        while not isinstance(app.screen, ProblemScreen) or not app.screen.query("#problem-fix"):
            await pilot.pause(0.1)
        await pilot.pause(0.3)
        app.save_screenshot("dashboard-expired.svg", str(OUT))


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        town = LiveTown(Path(tmp), agents=2000, tps=10.0)
        try:
            asyncio.run(shoot(town))
        finally:
            town.close()
    print("\n".join(str(p) for p in sorted(OUT.glob("dashboard*.svg"))))
