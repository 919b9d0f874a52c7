"""``SessionApp``: the dashboard's login, the base of ``DashboardApp``.

It resolves who logs in (``preflight`` problems need no network), starts the frame
feed (the stream needs only the key), logs in to the console on a worker with backoff
while the server is down, tells refused, expired and failed handshakes apart and
covers the screen with the fix (:class:`~townlet.ui.screens.ProblemScreen`), and
switches to a renewed key placed beside the profile (``R``, or ``r`` on a problem
screen) without a restart. It reports to the dashboard with messages: FrameReady
(from the feed thread), LoggedIn and Notice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from textual import work
from textual.app import App
from textual.message import Message
from textual.worker import get_current_worker

from townlet.client.errors import ConsoleConnectionError, HandshakeFailed, HandshakeRefused
from townlet.ui.console_link import CommandInfo, ConsoleLink
from townlet.ui.feed import FrameFeed
from townlet.ui.login import Login, LoginProblem, newer_login, preflight, renew_hint
from townlet.ui.screens import ProblemScreen

__all__ = ["FrameReady", "LoggedIn", "Notice", "SessionApp"]

_LOGIN_BACKOFF = (1.0, 16.0)


class FrameReady(Message):
    """The feed has a new frame or status (posted from the feed thread)."""


class LoggedIn(Message):
    """The console accepted the key: ``who``, ``commands`` and ``policy`` are current."""


class Notice(Message):
    """Something the operator should read (a renewal switched or not found)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class SessionApp(App[None]):
    """One login: the feed, the console link and the problem screens."""

    def __init__(self, login: Login, *, insecure_dev: bool = False,
                 console: bool = True) -> None:
        super().__init__()
        self.login = login
        self.insecure_dev = insecure_dev
        self.use_console = console
        """False: watch the stream only (no commands, ties or console health)."""
        self.commands: list[CommandInfo] = []
        self.who: dict[str, Any] = {"identity": login.name, "role": login.role,
                                    "expires_at": login.expires_at}
        self.policy = ""
        self.link: ConsoleLink | None = None
        self.feed: FrameFeed | None = None
        self.problem: LoginProblem | None = None
        self._pending = False

    def on_unmount(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        if self.link is not None:
            self.link.close()

    def _login(self) -> None:
        problem = preflight(self.login)
        if problem is not None:
            self._show_problem(problem)
            return
        self._start_feed()  # the stream needs only the key; the console logs in meanwhile
        if self.use_console:
            self._console_login()

    def _start_feed(self) -> None:
        if self.feed is not None:
            return
        secure = not self.insecure_dev
        self.feed = FrameFeed(self.login.telemetry_endpoint,
                              self.login.server_key if secure else None,
                              self.login.client_key if secure else None,
                              insecure_dev=self.insecure_dev, notify=self._notify)
        self.feed.start()

    @work(thread=True, exclusive=True, group="login")
    def _console_login(self) -> None:
        worker = get_current_worker()
        delay = _LOGIN_BACKOFF[0]
        while not worker.is_cancelled:
            problem, ok = self._try_console()
            if worker.is_cancelled:
                return
            if ok:
                self.call_from_thread(self._logged_in)
                return
            assert problem is not None
            self.call_from_thread(self._show_problem, problem)
            if problem.kind != "down":
                return
            due = time.monotonic() + delay  # a down server: retry with backoff (on screen)
            while not worker.is_cancelled and time.monotonic() < due:
                time.sleep(0.05)
            delay = min(delay * 2, _LOGIN_BACKOFF[1])

    def _try_console(self) -> tuple[LoginProblem | None, bool]:
        login = self.login
        try:
            link = self.link or ConsoleLink(login)
            who = link.call("whoami")
            commands = link.commands()
            policy = link.call("policy_info")
        except HandshakeRefused as exc:
            self._drop_link()
            expired = (login.expires_at is not None
                       and login.expires_at <= datetime.now(UTC))
            if expired:
                return LoginProblem("expired", f"Your key expired at "
                                    f"{login.expires_at:%Y-%m-%d %H:%M} UTC.",
                                    renew_hint(login)), False
            return LoginProblem("refused", str(exc),
                                "The server does not accept this key (unknown or revoked). "
                                + renew_hint(login)), False
        except HandshakeFailed as exc:
            self._drop_link()
            return LoginProblem("failed", str(exc), "Check server_key in your profile: it must "
                                "be the server.key of this server."), False
        except ConsoleConnectionError as exc:
            self._drop_link()
            return LoginProblem("down", f"{exc}", f"Is the simulation running? Retrying "
                                f"{login.console_endpoint} with backoff."), False
        self.link = link
        self.who = {**self.who, "identity": who["identity"], "role": who["role"]}
        self.commands = commands
        self.policy = f"{policy['name']}" + (f" {policy['policy_hash'][:12]}"
                                             if policy.get("policy_hash") else "")
        return None, True

    def _drop_link(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    def _show_problem(self, problem: LoginProblem) -> None:
        if self.problem is not None and self.problem.kind == problem.kind:
            return
        if self.problem is not None:
            self.pop_screen()
        self.problem = problem
        self.push_screen(ProblemScreen(problem), self._after_problem)

    def _after_problem(self, answer: str | None) -> None:
        self.problem = None
        if answer == "retry" and not self._switch_to_renewal():
            self._login()

    def action_renew(self) -> None:
        """Switch to a renewed key (its profile placed beside the current one)."""
        if not self._switch_to_renewal():
            self.post_message(Notice(f"no newer key for {self.login.name or '?'} beside "
                      f"{self.login.profile or 'the current profile'}. {renew_hint(self.login)}"))

    def _switch_to_renewal(self) -> bool:
        new = newer_login(self.login)
        if new is None:
            return False
        if self.feed is not None:
            self.feed.stop()
            self.feed = None
        self._drop_link()
        self.login = new
        self.who = {"identity": new.name, "role": new.role, "expires_at": new.expires_at}
        self.post_message(Notice(f"switched to the key in {new.profile} (expires "
                  f"{new.expires_at:%Y-%m-%d %H:%M} UTC)"))
        self._login()
        return True

    def _logged_in(self) -> None:
        if self.problem is not None:
            self.problem = None
            self.pop_screen()
        self.post_message(LoggedIn())

    def _notify(self) -> None:
        """Feed thread: post one FrameReady at a time (the app pulls the newest)."""
        if not self._pending:
            self._pending = True
            self.post_message(FrameReady())
