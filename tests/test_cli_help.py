"""Every `townlet` command documents every option, and `--help` works everywhere,
including below groups whose own options would otherwise be required."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from townlet.cli import main


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    yield path, group
    for name, cmd in getattr(group, "commands", {}).items():
        yield from _commands(cmd, (*path, name))


COMMANDS = list(_commands(main))


@pytest.mark.parametrize("path, command", COMMANDS,
                         ids=[" ".join(p) or "townlet" for p, _ in COMMANDS])
def test_every_option_has_help_and_help_exits_0(path, command):
    undocumented = [p.opts[0] for p in command.params
                    if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip()]
    assert not undocumented, f"townlet {' '.join(path)}: options without help: {undocumented}"
    result = CliRunner().invoke(main, [*path, "--help"], env={"TOWNLET_CONSOLE_KEY": None})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_console_exec_help_needs_no_key_and_running_it_does(tmp_path):
    cmd = [sys.executable, "-m", "townlet", "console", "exec"]
    shown = subprocess.run([*cmd, "--help"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120, check=False, env=_without_key())
    assert shown.returncode == 0, shown.stderr
    assert "Run one command" in shown.stdout
    refused = subprocess.run([*cmd, "status"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120, check=False, env=_without_key())
    assert refused.returncode == 2
    assert "no client key: pass --client-key FILE" in refused.stderr


def _without_key() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "TOWNLET_CONSOLE_KEY"}
