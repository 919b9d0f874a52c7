"""``townlet keys``: create the server keypair, issue, revoke and list client keys."""

from __future__ import annotations

import functools
import os
import sys

import click

from townlet.config.keys import KeysConfig

__all__ = ["keys_command"]


def _DIR(f):
    """``--key-dir`` and ``--config`` options resolved into the one ``key_dir`` argument:
    an explicit ``--key-dir`` (or its env) wins, then ``--config``'s keys.dir, then the
    default (the config default)."""

    @functools.wraps(f)
    def resolved(*args, key_dir: str, config_path: str | None, **kwargs):
        source = click.get_current_context().get_parameter_source("key_dir")
        if config_path is not None and source == click.core.ParameterSource.DEFAULT:
            key_dir = _config_key_dir(config_path)
        return f(*args, key_dir=key_dir, **kwargs)

    resolved = click.option(
        "--config", "config_path", type=click.Path(dir_okay=False),
        help="Use this config's keys.dir (what `townlet run --config` uses).")(resolved)
    return click.option(
        "--key-dir", "key_dir", envvar="TOWNLET_KEY_DIR", default=KeysConfig().dir,
        show_default=True, type=click.Path(file_okay=False),
        help="Key directory (env TOWNLET_KEY_DIR; default: keys.dir of --config, else the "
             "config default).")(resolved)


def _config_key_dir(config_path: str) -> str:
    from townlet.config import ConfigError, load_config

    try:
        return load_config(config_path).keys.dir
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@click.group("keys")
def keys_command() -> None:
    """Manage CURVE keys and the key registry (roles, expiry, revocation)."""


@keys_command.command("init")
@_DIR
@click.option("--force", is_flag=True, help="Replace an existing server keypair.")
def init_cmd(key_dir: str, force: bool) -> None:
    """Create the server keypair and an empty registry."""
    from townlet.security.keys import KeyFileError, init_key_dir

    try:
        pub = init_key_dir(key_dir, force=force)
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"server public key: {pub}  (give this file to clients)")


@keys_command.command("issue")
@_DIR
@click.option("--name", required=True, help="Identity the key belongs to.")
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "admin"]),
              help="What the key may do (see docs/ops/credentials.md).")
@click.option("--ttl", default="15m", show_default=True, help="Lifetime, e.g. 15m, 8h, 7d.")
@click.option("--out", type=click.Path(dir_okay=False), help="Client key file to write (0600).")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@click.option("--console-endpoint", help="Console endpoint written to the profile "
              "(default: console.endpoint of --config, else the config default).")
@click.option("--publish-endpoint", help="Telemetry endpoint written to the profile "
              "(default: telemetry.endpoint of --config, else the config default).")
def issue_cmd(key_dir: str, name: str, role: str, ttl: str, out: str | None, as_json: bool,
              console_endpoint: str | None, publish_endpoint: str | None) -> None:
    """Issue a client keypair with a role and an expiry, and its profile (endpoints, server
    key, expiry: what `townlet dashboard --profile` reads) beside the key file."""
    import msgspec

    from townlet.security.keys import KeyFileError, issue_key, parse_ttl
    from townlet.security.profile import write_profile
    from townlet.security.registry import RegistryError

    try:
        rec, path = issue_key(key_dir, name, role, parse_ttl(ttl), out=out)
    except (ValueError, KeyFileError, RegistryError) as exc:
        raise click.ClickException(str(exc)) from None
    config_path = click.get_current_context().params.get("config_path")
    prof = write_profile(client_profile(rec, path, key_dir, config_path,
                                        console_endpoint, publish_endpoint))
    if as_json:
        info = msgspec.to_builtins(rec) | {"key_file": os.fspath(path),
                                           "profile": os.fspath(prof)}
        click.echo(msgspec.json.encode(info).decode())
    else:
        click.echo(f"issued {rec.key_id} to {rec.name} as {rec.role}, "
                   f"expires {rec.expires_at:%Y-%m-%d %H:%M:%S}Z")
        click.echo(f"client key file: {path}  (0600; hand it to {rec.name} only)")
        click.echo(f"profile: {prof}  (endpoints and server key; `townlet dashboard "
                   f"--profile {prof}`)")


def client_profile(rec, key_file, key_dir: str, config_path: str | None,
                   console_endpoint: str | None, publish_endpoint: str | None):
    """The profile of a freshly issued key: endpoints from the flags, else from
    ``--config``, else the config defaults."""
    from townlet.config import default_config
    from townlet.security.profile import profile_for

    cfg = default_config()
    if config_path is not None:
        from townlet.config import ConfigError, load_config

        try:
            cfg = load_config(config_path)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
    return profile_for(rec, key_file, key_dir, console_endpoint or cfg.console.endpoint,
                       publish_endpoint or cfg.telemetry.endpoint)


@keys_command.command("revoke")
@_DIR
@click.argument("name")
@click.option("--key-id", help="Revoke only this key of NAME (e.g. the old key after rotation).")
def revoke_cmd(key_dir: str, name: str, key_id: str | None) -> None:
    """Revoke NAME's keys: new connections are refused within a second, open ones on the next
    request."""
    from townlet.security.keys import revoke_keys
    from townlet.security.registry import RegistryError

    try:
        hit = revoke_keys(key_dir, name, key_id=key_id)
    except (LookupError, RegistryError) as exc:
        raise click.ClickException(str(exc)) from None
    for rec in hit:
        click.echo(f"revoked {rec.key_id} ({rec.name}, {rec.role})")


@keys_command.command("list")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="One JSON array of records with status.")
def list_cmd(key_dir: str, as_json: bool) -> None:
    """List every issued key with its status (valid, expired, revoked)."""
    import msgspec

    from townlet.security.keys import REGISTRY_FILE
    from townlet.security.registry import RegistryError, load_registry, utcnow

    try:
        reg = load_registry(os.path.join(key_dir, REGISTRY_FILE))
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    now = utcnow()
    rows = [(rec, reg.check_key_id(rec.key_id, now).status.value) for rec in reg.records()]
    if as_json:
        out = [msgspec.to_builtins(rec) | {"status": st} for rec, st in rows]
        click.echo(msgspec.json.encode(out).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "key_id", "role", "issued", "expires", "status")
    for rec, st in rows:
        table.add_row(rec.name, rec.key_id, rec.role, f"{rec.issued_at:%Y-%m-%d %H:%M}",
                      f"{rec.expires_at:%Y-%m-%d %H:%M}", st)
    Console(file=sys.stdout).print(table)
