"""Modal screens: login problems, command arguments and confirmation of changes.

A login problem (no key, refused, expired, server down) covers the dashboard with
what happened and the fix; ``r`` retries, ``q`` quits. Commands that change the
world ask for confirmation before they are sent.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from townlet.ui.console_link import CommandInfo
from townlet.ui.login import LoginProblem

__all__ = ["ArgsScreen", "ConfirmScreen", "ProblemScreen"]

_TITLES = {"no_key": "No key", "refused": "Key refused", "expired": "Key expired",
           "failed": "Handshake failed", "down": "Server down"}


class ProblemScreen(ModalScreen[str]):
    """Why login failed and what to do; dismisses with ``retry`` or ``quit``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "retry", "retry"), Binding("q", "quit_app", "quit")]

    def __init__(self, problem: LoginProblem) -> None:
        super().__init__(id=f"problem-{problem.kind}")
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(_TITLES.get(self.problem.kind, self.problem.kind), classes="title")
            yield Static(self.problem.message, id="problem-message")
            yield Static(self.problem.fix, id="problem-fix")
            yield Static("r retry   q quit", classes="keys")

    def action_retry(self) -> None:
        self.dismiss("retry")

    def action_quit_app(self) -> None:
        self.app.exit()


class ArgsScreen(ModalScreen[str | None]):
    """Arguments for one command, as ``townlet console`` takes them (``12 x=40 y=7``)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, cmd: CommandInfo, value: str = "") -> None:
        super().__init__(id="args")
        self.cmd = cmd
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.cmd.name, classes="title")
            yield Static(f"{self.cmd.summary}\nusage: {self.cmd.usage}")
            yield Input(self.value, placeholder="arguments (positional or key=value), Enter "
                        "to run", id="args-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no before a command that changes the world or the run."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "answer(True)", "yes"), Binding("n,escape", "answer(False)", "no")]

    def __init__(self, text: str) -> None:
        super().__init__(id="confirm")
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Confirm", classes="title")
            yield Static(self.text)
            yield Button("Run it (y)", id="yes", variant="error")
            yield Button("Cancel (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
