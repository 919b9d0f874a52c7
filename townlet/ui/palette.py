"""Console commands in the command palette: only those the key's role may run, then
arguments, confirmation of changes, the call, and the answer shown inline.

The list comes from the server's ``help`` (``allowed`` rows), so the palette offers
what the server would accept; the server still authorises every request.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from townlet.client.errors import ConsoleConnectionError, ConsoleError
from townlet.client.repl import format_result, parse_tokens
from townlet.ui.console_link import CommandInfo
from townlet.ui.policy_panel import PROMOTION_COMMANDS
from townlet.ui.screens import ArgsScreen, ConfirmScreen

if TYPE_CHECKING:
    from townlet.ui.app import DashboardApp

__all__ = ["CommandFlow", "ConsoleCommands"]


class ConsoleCommands(Provider):
    """``console: <name>`` hits for every allowed command."""

    def _commands(self):
        app = cast("DashboardApp", self.app)
        return app.commands

    async def discover(self) -> Hits:
        app = cast("DashboardApp", self.app)
        for cmd in self._commands():
            yield DiscoveryHit(f"console: {cmd.name}", lambda c=cmd: app.start_command(c),
                               help=f"{cmd.role}: {cmd.summary}")

    async def search(self, query: str) -> Hits:
        app = cast("DashboardApp", self.app)
        matcher = self.matcher(query)
        for cmd in self._commands():
            text = f"console: {cmd.name}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), lambda c=cmd: app.start_command(c),
                          text=text, help=f"{cmd.role}: {cmd.summary}")


class CommandFlow:
    """What follows a palette choice: arguments, confirmation for commands that change the
    town, the call on a worker thread, and the answer (or error) in the Console tab."""

    def __init__(self, app: DashboardApp) -> None:
        self.app = app

    def start(self, cmd: CommandInfo, prefill: str = "") -> None:
        """Ask for ``cmd``'s arguments (the box starts with ``prefill``), confirm, run."""
        app = self.app

        def with_args(text: str | None) -> None:
            if text is None:
                return
            try:
                args, kwargs = parse_tokens(shlex.split(text))
            except ValueError as exc:
                app._say(f"{cmd.name}: bad arguments: {exc}")
                return
            if not cmd.mutates:
                self._run(cmd, args, kwargs)
                return

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._run(cmd, args, kwargs)
                else:
                    app._say(f"{cmd.name}: cancelled")

            shown = f"{cmd.name} {text}".strip()
            app.push_screen(ConfirmScreen(f"{shown}\n\nThis changes the running town "
                                          f"({cmd.role} command)."), confirmed)

        if cmd.usage == cmd.name:
            with_args("")
        else:
            app.push_screen(ArgsScreen(cmd, prefill), with_args)

    def _run(self, cmd: CommandInfo, args: list[Any], kwargs: dict[str, Any]) -> None:
        app = self.app

        def call() -> None:
            if app.link is None:
                app._reply(app._say, f"{cmd.name}: not connected to the console")
                return
            try:
                result = app.link.call(cmd.name, *args, **kwargs)
            except (ConsoleError, ConsoleConnectionError) as exc:
                app._reply(app._say, f"{cmd.name}: error {exc}")
                return
            app._reply(app._say, f"{cmd.name}: ok\n{format_result(result)}")
            if cmd.mutates:
                app.promotion_due = cmd.name in PROMOTION_COMMANDS
                app._reply(app._poll_console)  # show the change now, not at the next poll

        app.run_worker(call, thread=True, group="command")
