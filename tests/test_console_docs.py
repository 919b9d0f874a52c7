"""docs/console.md is generated from the command table; docs/ops/credentials.md matches the code."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from townlet.console.commands import COMMANDS
from townlet.console.docs import render
from townlet.security.cli import keys_command
from townlet.security.keys import DEFAULT_TTL, MAX_TTL
from townlet.wire.console import ERROR_CODES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_console_md_is_current() -> None:
    text = (DOCS / "console.md").read_text()
    assert text == render(), "run: python -m townlet.console.docs > docs/console.md"


def test_console_md_covers_every_command_and_code() -> None:
    text = render()
    for name, cmd in COMMANDS.items():
        assert f"### `{name}`" in text and f"Role: **{cmd.role}**" in text
    for code in ERROR_CODES:
        assert f"| `{code}` |" in text


def _fmt(td: timedelta) -> str:
    s = int(td.total_seconds())
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


def test_credentials_md_matches_ttl_policy_and_cli() -> None:
    text = (DOCS / "ops" / "credentials.md").read_text()
    for role, cap in MAX_TTL.items():
        assert re.search(rf"\| {role} \| {_fmt(DEFAULT_TTL)} \| {_fmt(cap)} \|", text), role
    for sub in keys_command.commands:
        assert f"townlet keys {sub}" in text
    for name in ("keys", "revoke"):
        assert COMMANDS[name].role == "admin"
