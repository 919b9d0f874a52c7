"""The dashboard's stability and promotion panel against a real town served by a learned
policy: the frames' policy identity, the console's promotion state and stability alerts,
and promotion / rollback from the palette (admin only, confirmed, pinned to the shadow)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("textual", reason="needs the ui extra")
pytest.importorskip("gymnasium", reason="needs the rl extra")
pytest.importorskip("torch", reason="needs the rl extra")

from _dash import SIZE, palette_names, run, text, type_and_enter, until
from _live_town import LiveTown
from _pilot import config, tiny_checkpoint
from telemetry_helpers import no_shm_leak  # noqa: F401 - autouse fixture
from textual.widgets import Input, RichLog, Static, TabbedContent

from townlet.pilot.checkpoints import load
from townlet.pilot.serve import serve, slot_of
from townlet.promotion.manager import Promotion
from townlet.promotion.state import SuiteVerdict
from townlet.ui.app import DashboardApp
from townlet.ui.policy_panel import PolicyPanel


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A town driven by release ``alpha`` with ``beta`` as the ready shadow."""
    tmp = tmp_path_factory.mktemp("policy")
    cfg = config(tmp / "promo", agents=60)
    tiny_checkpoint(tmp / "alpha.pt", cfg, seed=2)
    tiny_checkpoint(tmp / "beta.pt", cfg, seed=3)
    alpha, beta = load(tmp / "alpha.pt"), load(tmp / "beta.pt")
    clean = SuiteVerdict(suite="smoke", suite_version=1, evaluated_at="t", clean_windows=2,
                         alerts=[], regressions=[], against=None)
    promo = Promotion(cfg.pilot.promotion)
    promo.submit(slot_of(alpha), clean, 2, "test")
    promo.promote("test", "first release")
    promo.submit(slot_of(beta), clean, 2, "test")
    town = LiveTown(tmp, agents=60, config=cfg, paused=True)
    town.sim.console = town.server  # as `townlet run` starts it
    serve(town.sim, alpha, load)
    town.sim.paused = False
    yield town, alpha, beta
    town.close()


def row(shown: str, label: str) -> str:
    """The value of the panel's row ``label``."""
    for line in shown.splitlines():
        if line.startswith(label + " "):
            return line[len(label):].strip()
    raise AssertionError(f"no row {label!r} in:\n{shown}")


def _policy_tab(app) -> PolicyPanel:
    app.query_one(TabbedContent).active = "tab-policy"
    return app.query_one(PolicyPanel)


def test_the_panel_shows_identity_state_alerts_and_history(served):
    town, alpha, beta = served

    async def body():
        app = DashboardApp(town.login("viewer"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.frame is not None and bool(app.commands), "login")
            panel = _policy_tab(app)
            await until(pilot, lambda: "beta" in text(panel), "the promotion state")
            shown = text(panel)
            said = re.fullmatch(rf"alpha {alpha.policy_hash[:12]}; drives ([\d,]+) of ([\d,]+) "
                                "agents", row(shown, "frames say"))
            assert said is not None and int(said[1]) > 0 and int(said[2]) > 0
            assert row(shown, "state") == "ready"
            assert row(shown, "release") == f"alpha {alpha.policy_hash[:12]} (compact)"
            assert row(shown, "shadow") == (f"beta {beta.policy_hash[:12]} (compact)  ready  "
                                            "streak 2 of 2")
            assert row(shown, "rollback to") == "scripted"
            assert f"candidate beta {beta.policy_hash[:12]}" in shown  # newest first
            assert shown.index("candidate beta") < shown.index("promoted alpha")
            assert "first release" in shown
            for alert in ("queue_fairness_pressure", "starvation_spike", "lateness_spike"):
                assert alert in shown
            # two polls a while apart give each alert a window of its own
            await until(pilot, lambda: "raised ticks per poll" in text(panel),
                        "the rolling alert windows")
            assert "need an admin key" in text(panel)
            names = {c.name for c in app.commands}
            assert "promotion_status" in names and not names & {"promote_policy",
                                                                 "rollback_policy"}
            assert "promote_policy" not in await palette_names(pilot, app, "promote")
    run(body())


def test_an_admin_promotes_the_shadow_and_rolls_back(served):
    town, alpha, beta = served

    async def body():
        app = DashboardApp(town.login("admin"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.frame is not None and bool(app.commands), "login")
            panel = _policy_tab(app)
            await until(pilot, lambda: "beta" in text(panel) and "ctrl+p" in text(panel),
                        "the promotion state and the admin's actions")
            assert {"promote_policy", "rollback_policy"} <= {c.name for c in app.commands}
            assert "rollback_policy" in await palette_names(pilot, app, "rollback")
            promote = next(c for c in app.commands if c.name == "promote_policy")
            app.start_command(promote)
            await until(pilot, lambda: app.screen.id == "args" and app.screen.query(Input),
                        "the arguments dialog")
            pinned = app.screen.query_one(Input).value
            assert pinned == f"policy_hash={beta.policy_hash}"  # the shadow on screen
            await type_and_enter(pilot, app, f"{pinned} reason=reviewed")
            await until(pilot, lambda: app.screen.id == "confirm", "the confirmation")
            assert beta.policy_hash in text(app.screen.query(Static)[1])
            await pilot.press("y")
            await until(pilot, lambda: app.frame.digest.policy.startswith("beta "),
                        "frames from the promoted policy")
            # the answer shows in the Console tab; the promotion state is refreshed meanwhile
            await until(pilot, lambda: app.promotion["promotion"]["state"] == "promoted",
                        "the new promotion state")
            _policy_tab(app)
            await until(pilot, lambda: "promoted beta" in text(panel)
                        and "reviewed" in text(panel), "the promotion in the history")
            assert row(text(panel), "state") == "promoted"
            assert row(text(panel), "release").startswith(f"beta {beta.policy_hash[:12]}")
            assert row(text(panel), "shadow").startswith("none")
            log = app.query_one("#console-log", RichLog)
            assert any("promote_policy: ok" in str(line) for line in log.lines)

            rollback = next(c for c in app.commands if c.name == "rollback_policy")
            app.start_command(rollback)
            await until(pilot, lambda: app.screen.id == "args" and app.screen.query(Input),
                        "the arguments dialog")
            await type_and_enter(pilot, app, "reason=undo")
            await until(pilot, lambda: app.screen.id == "confirm", "the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: app.frame.digest.policy.startswith("alpha "),
                        "frames from the restored release")
            _policy_tab(app)
            await until(pilot, lambda: "rollback alpha" in text(panel), "the rollback")
            assert row(text(panel), "state") == "monitoring"
            assert row(text(panel), "release").startswith(f"alpha {alpha.policy_hash[:12]}")
            # a second promotion has no candidate: the server's refusal shows inline
            app.start_command(promote)
            await until(pilot, lambda: app.screen.id == "args" and app.screen.query(Input),
                        "the arguments dialog")
            await type_and_enter(pilot, app, "")
            await until(pilot, lambda: app.screen.id == "confirm", "the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: any("no shadow candidate" in str(line)
                                           for line in log.lines), "the refusal inline")
    run(body())
