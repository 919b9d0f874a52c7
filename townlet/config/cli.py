"""``townlet config``: print the canonical config, or check a config file."""

from __future__ import annotations

import json
import sys

import click

__all__ = ["config_command"]


@click.group()
def config_command() -> None:
    """Inspect and validate configs."""


@config_command.command("dump")
@click.option("--config", "path", type=click.Path(dir_okay=False),
              help="Config to dump (default: the embedded default town).")
def dump(path) -> None:
    """Print the config with every field spelled out (YAML)."""
    from townlet.config import ConfigError, dump_config, load_config

    try:
        click.echo(dump_config(load_config(path)), nl=False)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@config_command.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object ({ok, config_id} or {ok, error}) on stdout.")
def check(path, as_json) -> None:
    """Validate a config file; prints its config_id (exit code 2 if invalid)."""
    from townlet.config import ConfigError, config_id, load_config

    try:
        cid = config_id(load_config(path))
    except ConfigError as exc:
        click.echo(json.dumps({"ok": False, "error": str(exc)}) if as_json else f"error: {exc}",
                   err=not as_json)
        sys.exit(2)
    click.echo(json.dumps({"ok": True, "config_id": cid}) if as_json else f"ok  config_id {cid}")
