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


def test_one_vocabulary_across_commands():
    """The same thing has the same option name everywhere."""
    def names(*path: str) -> set[str]:
        cmd = main
        for part in path:
            cmd = cmd.commands[part]
        return {o for p in cmd.params for o in getattr(p, "opts", [])}

    for sub in main.commands["snapshot"].commands:
        assert "--root" in names("snapshot", sub), f"snapshot {sub} has no --root"
    assert "--client-key" in names("console") and "--client-key" in names("subscribe")
    assert "--key" not in names("console")
    for sub in ("init", "issue", "revoke", "list"):
        assert "--key-dir" in names("keys", sub) and "--dir" not in names("keys", sub)
    assert "--key-dir" in names("publish")


def test_cli_defaults_are_the_config_defaults():
    from townlet.config.console import ConsoleConfig
    from townlet.config.keys import KeysConfig
    from townlet.config.telemetry import TelemetryConfig

    def default(option: str, *path: str):
        cmd = main
        for part in path:
            cmd = cmd.commands[part]
        return next(p.default for p in cmd.params if option in getattr(p, "opts", []))

    assert default("--endpoint", "console") == ConsoleConfig().endpoint
    assert default("--endpoint", "subscribe") == TelemetryConfig().endpoint
    assert default("--key-dir", "keys", "issue") == KeysConfig().dir
    assert default("--key-dir", "publish") == KeysConfig().dir
