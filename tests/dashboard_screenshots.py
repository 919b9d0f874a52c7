"""Regenerate the dashboard's SVG screenshots in docs/img/ against a real running town
driven by a (tiny, random) learned policy with a ready shadow candidate:
``python tests/dashboard_screenshots.py`` (not a test: the figures are for the docs;
needs the ui and rl extras)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _live_town import LiveTown
from _pilot import config, tiny_checkpoint

from townlet.pilot.checkpoints import load
from townlet.pilot.serve import serve, slot_of
from townlet.promotion.manager import Promotion
from townlet.promotion.state import SuiteVerdict
from townlet.security import issue_key, parse_ttl
from townlet.security.registry import utcnow
from townlet.ui.app import DashboardApp
from townlet.ui.screens import ProblemScreen

OUT = Path(__file__).resolve().parent.parent / "docs" / "img"
SIZE = (170, 48)
AGENTS = 2000


async def shoot(town: LiveTown) -> None:
    app = DashboardApp(town.login("admin"))
    async with app.run_test(size=SIZE) as pilot:
        while app.frame is None or not app.commands or app.frame.tick < 200:
            await pilot.pause(0.1)
        app.agents.filter_box.value = "rel=tie"
        app.agents.filter_box.focus()
        await pilot.press("enter")
        while "ties as of" not in str(app.agents.summary.content):
            await pilot.pause(0.1)
        await pilot.press("down", "down", "down", "down", "enter")
        while app.ties is None or len(app.feed.history()[0]) < 40:
            await pilot.pause(0.1)
        app.map.focus()
        await pilot.press("plus", "plus")
        await pilot.pause(0.6)
        app.save_screenshot("dashboard.svg", str(OUT))
        for tab in ("town", "health", "policy"):
            app.tabs.active = f"tab-{tab}"
            await pilot.pause(1.0)
            if tab == "policy":
                while app.promotion is None:
                    await pilot.pause(0.1)
                await pilot.pause(4.5)  # two more polls: the alert sparklines
            app.save_screenshot(f"dashboard-{tab}.svg", str(OUT))
    _, old = issue_key(town.kdir, "alice", "operator", parse_ttl("1m"),
                       now=utcnow() - timedelta(hours=2))
    app = DashboardApp(town.login(key=old))
    async with app.run_test(size=SIZE) as pilot:
        while not isinstance(app.screen, ProblemScreen) or not app.screen.query("#problem-fix"):
            await pilot.pause(0.1)
        await pilot.pause(0.3)
        app.save_screenshot("dashboard-expired.svg", str(OUT))


def served_town(tmp: Path) -> LiveTown:
    """A town served by release ``alpha`` with ``beta`` as its ready shadow."""
    cfg = config(tmp / "promo", agents=AGENTS)
    for name, seed in (("alpha", 2), ("beta", 3)):
        tiny_checkpoint(tmp / f"{name}.pt", cfg, seed=seed)
    alpha, beta = load(tmp / "alpha.pt"), load(tmp / "beta.pt")
    clean = SuiteVerdict(suite="smoke", suite_version=1, evaluated_at=utcnow().isoformat(
        timespec="seconds"), clean_windows=2, alerts=[], regressions=[], against=None)
    promo = Promotion(cfg.pilot.promotion)
    promo.submit(slot_of(alpha), clean, 2, "cli:docs")
    promo.promote("cli:docs", "first learned release")
    promo.submit(slot_of(beta), clean, 2, "cli:docs")
    town = LiveTown(tmp, agents=AGENTS, tps=10.0, config=cfg, paused=True)
    town.sim.console = town.server
    serve(town.sim, alpha, load)
    town.sim.paused = False
    return town


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        town = served_town(Path(tmp))
        try:
            asyncio.run(shoot(town))
        finally:
            town.close()
    print("\n".join(str(p) for p in sorted(OUT.glob("dashboard*.svg"))))
