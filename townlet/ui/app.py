"""``DashboardApp``: the operator dashboard over the telemetry stream and the console.

Login, the feed and problem screens are :class:`~townlet.ui.session.SessionApp`'s.
Frames arrive through :class:`~townlet.ui.feed.FrameFeed` (its own thread); the feed
posts :class:`FrameReady` and the app takes the newest frame into the ``frame``
reactive, which the panels render. Console requests (health, ties, the agents
filter's ``related`` bitmaps, ``promotion_status`` for the Policy tab, palette
commands) run in thread workers; their answers are shown, never stored back into
anything received.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, ClassVar

import numpy as np
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Footer, RichLog, TabbedContent, TabPane
from textual.worker import get_current_worker

from townlet.client.errors import (
    ConsoleConnectionError,
    ConsoleError,
    HandshakeFailed,
    HandshakeRefused,
    ServerUnreachable,
)
from townlet.ui.agents_view import AgentDetail, AgentsView, FollowAgent, RelatedWanted
from townlet.ui.console_link import CommandInfo
from townlet.ui.feed import FeedStatus
from townlet.ui.frame import Frame
from townlet.ui.login import Login, LoginProblem, renew_hint
from townlet.ui.mapview import MapView, Unfollow
from townlet.ui.palette import CommandFlow, ConsoleCommands
from townlet.ui.panels import HeaderBar, HealthPanel, TownPanel
from townlet.ui.policy_panel import (
    PROMOTION_COMMANDS,
    AlertWindows,
    PolicyPanel,
    promote_prefill,
)
from townlet.ui.session import FrameReady, LoggedIn, Notice, SessionApp

__all__ = ["DashboardApp", "FrameReady"]

_POLL_S = 2.0
"""Console polls (health, ties of the followed agent) at most this often."""
_TABLES_S = 0.5
"""The agents table and the town and health panels redraw at most this often (the map,
header and followed agent follow every frame)."""


class DashboardApp(SessionApp):
    """Header, map, agents, town, health and console panels over one login."""

    CSS_PATH = "app.tcss"
    TITLE = "townlet dashboard"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"), Binding("f", "unfollow", "unfollow"),
        Binding("z", "fit", "fit map"), Binding("R", "renew", "renewed key")]

    frame: reactive[Frame | None] = reactive(None, always_update=True)
    follow: reactive[int] = reactive(-1)

    def __init__(self, login: Login, *, insecure_dev: bool = False,
                 console: bool = True) -> None:
        super().__init__(login, insecure_dev=insecure_dev, console=console)
        self.console_health: dict[str, Any] | None = None
        self.ties: dict[str, Any] | None = None
        self.related_wanted: list[tuple[str, int | None]] = []
        """``related`` queries of the agents filter (refreshed every console poll)."""
        self.promotion: dict[str, Any] | None = None
        """The console's last ``promotion_status`` answer (polled while its tab shows)."""
        self.promotion_error: str | None = None
        self.promotion_due = False
        """Ask for the promotion status at the next poll even if its tab is hidden (after a
        promotion command)."""
        self.alert_windows = AlertWindows()
        self._rate: tuple[float, int] | None = None
        self.tps = 0.0
        self.flow = CommandFlow(self)
        self._poller: Timer | None = None
        self._tables_due = 0.0
        self.drawn = 0
        """Frames drawn (the rest were skipped to stay current)."""
        self.frame_to_screen: deque[float] = deque(maxlen=256)
        """Seconds from the publisher sending each drawn frame to the end of its drawing."""

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        with Horizontal():
            with Vertical(id="left"):
                yield MapView(id="map")
                yield AgentDetail(id="detail")
            with TabbedContent(id="tabs"):
                with TabPane("Agents", id="tab-agents"):
                    yield AgentsView(id="agents")
                with TabPane("Town", id="tab-town"):
                    yield TownPanel(id="town")
                with TabPane("Health", id="tab-health"):
                    yield HealthPanel(id="health")
                with TabPane("Policy", id="tab-policy"):
                    yield PolicyPanel(id="policy")
                with TabPane("Console", id="tab-console"):
                    yield RichLog(id="console-log", wrap=True, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        # Panels by reference: a modal screen on top (login problems, dialogs) must not hide
        # them from updates, and a late FrameReady during shutdown finds them still.
        self.map = self.query_one(MapView)
        self.tabs = self.query_one(TabbedContent)
        self.agents = self.query_one(AgentsView)
        self.town = self.query_one(TownPanel)
        self.health = self.query_one(HealthPanel)
        self.policy_panel = self.query_one(PolicyPanel)
        self.header = self.query_one(HeaderBar)
        self.detail = self.query_one(AgentDetail)
        self.console_log = self.query_one("#console-log", RichLog)
        self.set_interval(0.5, self._tick_header)
        self._login()

    def on_logged_in(self, _: LoggedIn) -> None:
        if self._poller is None:
            self._poller = self.set_interval(_POLL_S, self._poll_console)
        self.console_log.write(
            f"logged in as {self.who['identity']} ({self.who['role']}); "
            f"{len(self.commands)} commands allowed (ctrl+p)")

    def on_notice(self, msg: Notice) -> None:
        self._say(msg.text)

    # ------------------------------------------------------------------ frames
    def on_frame_ready(self, _: FrameReady) -> None:
        self._pending = False
        assert self.feed is not None
        st = self.feed.status()
        if st.state in ("refused", "failed") and self.problem is None:
            self._show_problem(LoginProblem(st.state, f"The publisher at "
                                            f"{self.login.telemetry_endpoint} {st.state} the "
                                            "handshake.", renew_hint(self.login)))
        frame = self.feed.take()
        if frame is not None:
            now = time.monotonic()
            if self._rate is None or now - self._rate[0] >= 1.0:
                if self._rate is not None:
                    self.tps = (frame.tick - self._rate[1]) / (now - self._rate[0])
                self._rate = (now, frame.tick)
            self.frame = frame
        self._tick_header()

    def watch_frame(self, frame: Frame | None) -> None:
        if frame is None or self.feed is None:
            return
        self.map.show(frame, self.follow)
        now = time.monotonic()
        if now >= self._tables_due:  # tables and lists at most every _TABLES_S
            self._tables_due = now + _TABLES_S
            self._show_tab(frame)
        self._show_detail()
        self.drawn += 1
        self.frame_to_screen.append((time.time_ns() - frame.sent_ns) / 1e9)

    def _show_tab(self, frame: Frame) -> None:
        assert self.feed is not None
        tabs = self.tabs.active
        if tabs == "tab-agents":
            self.agents.show(frame)
        elif tabs == "tab-town":
            self.town.show(frame.digest, self.feed.recent_events(), self.feed.events_by_hour(),
                           frame.names)
        elif tabs == "tab-health":
            self.health.show(self.feed.status(), self.console_health, self.frame_to_screen)
        elif tabs == "tab-policy":
            self._show_policy()

    def _show_policy(self) -> None:
        d = self.frame.digest if self.frame is not None else None
        error = self.promotion_error if self.use_console else "no console (--no-console)"
        self.policy_panel.show(d.policy if d else "", d.learned_agents if d else 0,
                               d.population if d else 0, self.promotion, error,
                               self.alert_windows,
                               any(c.name in PROMOTION_COMMANDS for c in self.commands))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self.frame is not None and self.feed is not None:
            self._show_tab(self.frame)  # draw the newly shown tab now
        if event.pane.id == "tab-policy":
            self._show_policy()
            self._poll_console()

    def _tick_header(self) -> None:
        st = self.feed.status() if self.feed is not None else FeedStatus("connecting", 0.0)
        d = self.frame.digest if self.frame is not None else None
        self.header.show(d, st, self.tps, self.who, self.policy)
        if self.tabs.active == "tab-health":
            self.health.show(st, self.console_health, self.frame_to_screen)

    def _show_detail(self) -> None:
        if self.frame is None or self.feed is None:
            return
        self.detail.show(self.frame, self.follow, self.feed.history(),
                                         self.feed.agent_events(), self.ties)

    # ------------------------------------------------------------- following
    def on_follow_agent(self, msg: FollowAgent) -> None:
        self.follow = msg.agent

    def on_unfollow(self, _: Unfollow) -> None:
        self.follow = -1

    def watch_follow(self, agent: int) -> None:
        self.ties = None
        if self.feed is not None:
            self.feed.follow(agent)
        if self.frame is not None:
            self.map.show(self.frame, agent)
            self._show_detail()
        if agent >= 0:
            self._poll_console()

    def action_unfollow(self) -> None:
        self.follow = -1

    def action_fit(self) -> None:
        self.follow = -1
        self.map.fit()
        self.map.refresh()

    # --------------------------------------------------------------- console
    @work(thread=True, exclusive=True, group="poll")
    def _poll_console(self) -> None:
        if self.link is None:
            return
        agent = self.follow
        try:
            health = self.link.call("health")
            ties = self.link.call("relationships", agent, limit=5) if agent >= 0 else None
            due = self.promotion_due or self.tabs.active == "tab-policy"
            promotion = self._promotion_status() if due else None
            wanted = self.related_wanted
            related = self.link.related(wanted) if wanted else None
        except (ConsoleError, ConsoleConnectionError) as exc:
            self._reply(self._console_trouble, exc)
            return
        self._reply(self._polled, health, ties, agent)
        if related is not None:
            self._reply(self._related, wanted, *related)
        if promotion is not None:
            self._reply(self._promoted, *promotion)

    def _promotion_status(self) -> tuple[dict[str, Any] | None, str | None]:
        """(status, None), or (None, why) when the server answers with an error (a run
        that serves no learned policy says so); connection errors propagate."""
        assert self.link is not None
        try:
            return self.link.call("promotion_status"), None
        except ConsoleError as exc:
            return None, str(exc)

    def on_related_wanted(self, msg: RelatedWanted) -> None:
        self.related_wanted = msg.keys
        if msg.keys and self.link is None:
            self.agents.set_related({}, "relationship filters need the console"
                                    if not self.use_console else "not logged in yet")
        if msg.keys:
            self._poll_console()

    def _related(self, keys: list[tuple[str, int | None]],
                 related: dict[tuple[str, int | None], np.ndarray], note: str) -> None:
        if keys == self.related_wanted:  # not a filter the operator has since replaced
            self.agents.set_related(related, note)

    def _promoted(self, status: dict[str, Any] | None, error: str | None) -> None:
        self.promotion, self.promotion_error = status, error
        self.promotion_due = False
        if status is not None and status.get("stability") is not None:
            self.alert_windows.add(status["stability"])
        if self.tabs.active == "tab-policy":
            self._show_policy()

    def _polled(self, health: dict[str, Any], ties: dict[str, Any] | None, agent: int) -> None:
        keep = ("ok", "ticks_per_s", "paused", "queue_len", "queue_capacity", "requests",
                "refused", "zap_denied", "last_drain_age_s")
        self.console_health = {k: health[k] for k in keep if k in health}
        if agent == self.follow:
            self.ties = ties
            self._show_detail()

    def _console_trouble(self, exc: Exception) -> None:
        if isinstance(exc, (HandshakeRefused, HandshakeFailed, ServerUnreachable)):
            self._drop_link()
            self._console_login()
        else:
            self.console_health = {"error": str(exc)}

    def start_command(self, cmd: CommandInfo) -> None:
        """A palette choice (see :class:`~townlet.ui.palette.CommandFlow`); a promotion
        is pinned to the shadow the Policy tab shows."""
        self.flow.start(cmd, promote_prefill(self.promotion)
                        if cmd.name == "promote_policy" else "")

    def _reply(self, fn: Any, *args: Any) -> None:
        """From a worker thread: run ``fn`` on the UI thread unless the app is closing."""
        if not get_current_worker().is_cancelled:
            self.call_from_thread(fn, *args)

    def _say(self, text: str) -> None:
        self.tabs.active = "tab-console"
        self.console_log.write(text)
