"""The command palette's console provider: only the commands the key's role may run.

The list comes from the server's ``help`` (``allowed`` rows), so the palette offers
what the server would accept; the server still authorises every request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from townlet.ui.app import DashboardApp

__all__ = ["ConsoleCommands"]


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
