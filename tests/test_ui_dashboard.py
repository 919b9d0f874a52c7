"""The dashboard (Textual pilot) against a real running town: console, publisher, keys."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
import pytest

pytest.importorskip("textual", reason="needs the ui extra")

from _dash import SIZE, palette_names, run, text, type_and_enter, until
from _live_town import LiveTown
from telemetry_helpers import free_port, no_shm_leak  # noqa: F401 - autouse fixture
from textual.widgets import Input, RichLog, Static, TabbedContent

from townlet.security import issue_key, parse_ttl, revoke_keys
from townlet.security.registry import utcnow
from townlet.ui.agents_view import TABLE_ROWS, AgentDetail, AgentTable
from townlet.ui.app import DashboardApp
from townlet.ui.mapview import MapView
from townlet.ui.panels import HeaderBar, HealthPanel, TownPanel
from townlet.ui.policy_panel import PolicyPanel
from townlet.ui.screens import ProblemScreen
from townlet.world.state import frame_vocab


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    t = LiveTown(tmp_path_factory.mktemp("dash"))
    yield t
    t.close()


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
            # coded values are named as the stream's schema names them: the world's names
            assert app.frame.names.names("agent_goal") == tuple(frame_vocab()["agent_goal"])
            table = text(app.query_one(AgentTable))
            assert any(f" {g} " in table for g in app.frame.names.names("agent_goal"))
            app.query_one(TabbedContent).active = "tab-town"
            await until(pilot, lambda: "money/capita" in text(app.query_one(TownPanel)),
                        "the town panel")
            town_text = text(app.query_one(TownPanel))
            for label in ("hunger", "prices", "shifts", "queues", "perturbations",
                          "events by hour"):
                assert label in town_text
            assert any(f"{s} " in town_text for s in app.frame.names.names("agent_shift"))
            app.query_one(TabbedContent).active = "tab-health"
            await until(pilot, lambda: "publisher" in text(app.query_one(HealthPanel)),
                        "publisher health")
            assert "simulation" in text(app.query_one(HealthPanel))
            app.query_one(TabbedContent).active = "tab-policy"  # this town runs scripted
            policy = app.query_one(PolicyPanel)
            await until(pilot, lambda: "serves no learned policy" in text(policy),
                        "the console's answer on the policy tab")
            assert "scripted policy" in text(policy)
            assert "need an admin key" in text(policy)
    run(body())


def test_selecting_an_agent_follows_it_on_the_map(town):
    async def body():
        app = DashboardApp(town.login("viewer"))
        async with app.run_test(size=SIZE) as pilot:
            table = app.query_one(AgentTable)
            await until(pilot, lambda: len(table.rows) > 5, "agent rows")
            table.focus()
            await pilot.press("down", "down", "down")
            chosen = table.agent_under_cursor
            await pilot.press("enter")
            await until(pilot, lambda: app.follow >= 0, "a followed agent")
            agent = app.follow
            assert agent == chosen == table.rows[3].agent
            map_view = app.query_one(MapView)
            await until(pilot, lambda: f"following #{agent}" in text(map_view), "map title")
            # the map keeps the agent in the middle of its window as it moves
            for _ in range(2):
                tick = app.frame.tick
                await until(pilot, lambda t=tick: app.frame.tick > t, "a newer frame")
                vp = map_view.viewport()
                x, y = (int(app.frame.cols[c][agent]) for c in ("agent_x", "agent_y"))
                assert abs(vp.x0 + vp.cols * vp.zoom // 2 - x) <= vp.zoom
                assert abs(vp.y0 + vp.rows * vp.zoom // 2 - y) <= vp.zoom
            assert "@" in text(map_view)
            detail = app.query_one(AgentDetail)
            await until(pilot, lambda: "friends" in text(detail) and len(app.feed.history()[0])
                        > 3, "ties and needs history")
            assert f"#{agent}" in text(detail) and "hunger" in text(detail)
            await pilot.press("f")  # unfollow
            await until(pilot, lambda: "following" not in text(map_view), "unfollowed map")
    run(body())


def test_the_relationship_filter_asks_the_console_for_whole_town_bitmaps(town):
    async def body():
        app = DashboardApp(town.login("viewer"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.frame is not None and app.link is not None, "login")
            town.sim.paused = True  # the frame and the console's answers describe one tick
            await until(pilot, lambda: app.frame.tick == town.world.tick, "the paused tick")
            world, summary = town.world, app.query_one("#agent-summary")

            async def matching(query: str) -> int:
                await pilot.click("#agent-filter")
                await type_and_enter(pilot, app, query)
                await until(pilot, lambda: "ties as of tick" in text(summary)
                            or "rel=" in text(summary), f"the console's answer to {query}")
                assert f"ties as of tick {world.tick:,}" in text(summary), text(summary)
                return app.agents.matching

            ties = world.related("tie")
            assert await matching("rel=tie") == int(ties.sum()) > 0
            assert len(app.agents.table.rows) == min(TABLE_ROWS, int(ties.sum()))
            assert all(ties[r.agent] for r in app.agents.table.rows)
            assert await matching("rel!=tie") == int((world.alive & ~ties).sum())
            assert await matching("rel=rival") == int(world.related("rival").sum())
            other = int(world.view("rel_other")[np.flatnonzero(ties)[0]].max())
            with_other = world.related("tie", other)
            assert await matching(f"rel=tie@{other} hunger<=1") == int(with_other.sum()) > 0
            assert {r.agent for r in app.agents.table.rows} == set(
                np.flatnonzero(with_other).tolist())
            await pilot.click("#agent-filter")
            await type_and_enter(pilot, app, "rel=enemy")
            await until(pilot, lambda: "rel=enemy: " in text(summary), "the server's refusal")
            await pilot.click("#agent-filter")
            await type_and_enter(pilot, app, "rel~rival")
            await until(pilot, lambda: "bad relationship term" in text(summary), "bad term")
        town.sim.paused = False

    try:
        run(body())
    finally:
        town.sim.paused = False


def test_a_relationship_filter_without_the_console_says_so(town):
    async def body():
        app = DashboardApp(town.login("viewer"), console=False)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.frame is not None, "a frame")
            await pilot.click("#agent-filter")
            await type_and_enter(pilot, app, "rel=rival")
            summary = app.query_one("#agent-summary")
            await until(pilot, lambda: "need the console" in text(summary), "the reason")
    run(body())


def test_a_viewer_is_offered_no_operator_or_admin_commands(town):
    async def body():
        app = DashboardApp(town.login("viewer"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: bool(app.commands), "the allowed commands")
            allowed = {c.name for c in app.commands}
            assert {"status", "agents", "economy"} <= allowed
            assert not allowed & {"pause", "set_price", "kill", "revoke", "snapshot_save"}
            assert "set_price" not in await palette_names(pilot, app, "set_price")
            assert "pause" not in await palette_names(pilot, app, "pause")
            assert "status" in await palette_names(pilot, app, "status")
    run(body())


def test_an_operator_command_asks_for_confirmation_and_answers_inline(town):
    async def body():
        app = DashboardApp(town.login("operator"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: bool(app.commands), "the allowed commands")
            assert "set_need" in {c.name for c in app.commands}
            assert "set_price" not in {c.name for c in app.commands}  # admin only
            cmd = next(c for c in app.commands if c.name == "set_need")
            app.start_command(cmd)
            await until(pilot, lambda: app.screen.id == "args" and app.screen.query(Input),
                        "the arguments dialog")
            await type_and_enter(pilot, app, "99999 hunger 0.5")
            await until(pilot, lambda: app.screen.id == "confirm", "the confirmation")
            await pilot.press("y")
            log = app.query_one("#console-log", RichLog)
            await until(pilot, lambda: any("E_NOT_FOUND" in str(line) for line in log.lines),
                        "the error inline")
            app.start_command(cmd)
            await until(pilot, lambda: app.screen.id == "args" and app.screen.query(Input),
                        "the arguments dialog")
            await type_and_enter(pilot, app, "0 hunger 0.25")
            await until(pilot, lambda: app.screen.id == "confirm", "the confirmation")
            await pilot.press("n")
            await until(pilot, lambda: any("set_need: cancelled" in str(line)
                                           for line in log.lines), "cancelled inline")
    run(body())


def _problem(app) -> str | None:
    screen = app.screen
    return screen.id if isinstance(screen, ProblemScreen) else None


def test_no_key_refused_and_expired_keys_show_their_screens(town, tmp_path):
    async def body(login, want: str, fix: str):
        app = DashboardApp(login)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: _problem(app) == want
                        and app.screen.query("#problem-fix"), want)
            shown = text(app.screen.query_one("#problem-fix", Static))
            assert fix in shown
            if want == "problem-no_key":
                assert app.feed is None  # no stream without a key

    base = town.login("viewer")
    run(body(dataclasses.replace(base, client_key=None), "problem-no_key", "townlet keys issue"))
    _, revoked = issue_key(town.kdir, "gone", "viewer", parse_ttl("1h"))
    revoke_keys(town.kdir, "gone")
    run(body(town.login(key=revoked), "problem-refused", "townlet keys issue --name gone"))
    _, old = issue_key(town.kdir, "late", "viewer", parse_ttl("1m"),
                       now=utcnow() - timedelta(hours=1))
    expired = town.login(key=old)
    run(body(expired, "problem-expired", "townlet keys issue --name late --role viewer"))
    # the server's verdict alone (no local expiry known) still says expired once it passed
    run(body(dataclasses.replace(expired, expires_at=None), "problem-refused", "keys issue"))


def test_a_server_that_is_down_shows_its_screen_and_is_retried(town):
    async def body():
        login = dataclasses.replace(town.login("viewer"),
                                    console_endpoint=f"tcp://127.0.0.1:{free_port()}")
        app = DashboardApp(login)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: _problem(app) == "problem-down"
                        and app.screen.query("#problem-fix"), "the down screen")
            assert "Retrying" in text(app.screen.query_one("#problem-fix", Static))
    run(body())


def test_the_publishers_death_shows_as_stale(tmp_path):
    town = LiveTown(tmp_path, agents=100)
    try:
        async def body():
            app = DashboardApp(town.login("viewer"))
            async with app.run_test(size=SIZE) as pilot:
                header = app.query_one(HeaderBar)
                await until(pilot, lambda: app.frame is not None and "live" in text(header),
                            "a live stream")
                town.hook.publisher.proc.kill()
                await until(pilot, lambda: "stale" in text(header), "stale in the header")
                tick = app.frame.tick
                assert "silent" in text(header)
                await pilot.pause(0.3)
                assert app.frame.tick == tick  # the last frame stays on screen, marked stale
        run(body())
    finally:
        town.close()


def test_an_expired_key_is_replaced_by_its_renewal_without_a_restart(town):
    _, old = issue_key(town.kdir, "renewer", "viewer", parse_ttl("1m"),
                       now=utcnow() - timedelta(hours=1))
    expired = town.login(key=old)

    async def body():
        app = DashboardApp(expired)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: _problem(app) == "problem-expired", "the expired screen")
            _, new = issue_key(town.kdir, "renewer", "viewer", parse_ttl("2h"))
            town.login(key=new)  # the admin hands over the key and its profile
            await pilot.press("r")
            await until(pilot, lambda: _problem(app) is None and app.frame is not None
                        and app.login.client_key == new, "the stream under the new key")
            header = app.query_one(HeaderBar)
            await until(pilot, lambda: "renewer as viewer" in text(header), "the new login")
            assert "key expires in 1h" in text(header)
    run(body())


def test_a_renewal_beside_the_profile_replaces_a_live_key_on_R(town):
    _, first = issue_key(town.kdir, "renewing", "viewer", parse_ttl("30m"))

    async def body():
        app = DashboardApp(town.login(key=first))
        async with app.run_test(size=SIZE) as pilot:
            header = app.query_one(HeaderBar)
            await until(pilot, lambda: "renewing as viewer" in text(header)
                        and "key expires in 2" in text(header), "the live login")
            await pilot.press("R")  # nothing newer yet: says so, keeps the key
            log = app.query_one("#console-log", RichLog)
            await until(pilot, lambda: any("no newer key" in str(line) for line in log.lines),
                        "the answer")
            assert app.login.client_key == first
            _, renewed = issue_key(town.kdir, "renewing", "viewer", parse_ttl("2h"))
            town.login(key=renewed)  # the admin hands over the key and its profile
            await pilot.press("R")
            await until(pilot, lambda: app.login.client_key == renewed and app.link is not None
                        and "key expires in 1h" in text(header), "the renewed login")
            await until(pilot, lambda: app.frame is not None, "frames under the new key")
    run(body())
