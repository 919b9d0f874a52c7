"""``townlet dashboard``: log in from a profile (or flags) and run the Textual UI."""

from __future__ import annotations

from pathlib import Path

import click

from townlet.config.paths import KEYS_DIR

__all__ = ["dashboard_command"]


@click.command("dashboard")
@click.option("--profile", "profile_path", envvar="TOWNLET_PROFILE",
              type=click.Path(dir_okay=False),
              help="Profile from `townlet keys issue` (env TOWNLET_PROFILE; default: the newest "
                   "profile in --key-dir or its clients/).")
@click.option("--key-dir", envvar="TOWNLET_KEY_DIR", default=KEYS_DIR, show_default=True,
              type=click.Path(file_okay=False), help="Where to look for a profile.")
@click.option("--client-key", type=click.Path(dir_okay=False),
              help="Client key file (overrides the profile's).")
@click.option("--server-key", type=click.Path(dir_okay=False),
              help="Server public key file (overrides the profile's).")
@click.option("--console-endpoint", help="Console endpoint (overrides the profile's).")
@click.option("--publish-endpoint", help="Telemetry endpoint (overrides the profile's).")
@click.option("--no-console", is_flag=True,
              help="Watch the stream only: no console login, commands, ties or console health.")
@click.option("--insecure-dev", is_flag=True,
              help="Plaintext telemetry (development publishers only; the console is "
                   "always CURVE).")
def dashboard_command(profile_path: str | None, key_dir: str, client_key: str | None,
                      server_key: str | None, console_endpoint: str | None,
                      publish_endpoint: str | None, no_console: bool, insecure_dev: bool) -> None:
    """Watch and operate a running town: map, agents, town panels, health, commands."""
    try:
        from townlet.ui.app import DashboardApp
    except ImportError as exc:
        raise click.ClickException(f"the dashboard needs the ui extra: pip install "
                                   f"'townlet[ui]' ({exc})") from None
    login = resolve_login(profile_path, key_dir, client_key, server_key, console_endpoint,
                          publish_endpoint)
    DashboardApp(login, insecure_dev=insecure_dev, console=not no_console).run()


def resolve_login(profile_path: str | None, key_dir: str, client_key: str | None,
                  server_key: str | None, console_endpoint: str | None,
                  publish_endpoint: str | None):
    """A Login from the profile (given or newest found) with the flags applied on top."""
    import dataclasses

    from townlet.config.console import ConsoleConfig
    from townlet.config.telemetry import TelemetryConfig
    from townlet.security.keys import SERVER_PUBLIC_FILE
    from townlet.security.profile import ProfileError, find_profile, load_profile
    from townlet.ui.login import Login, key_file_expiry, login_from_profile

    found = Path(profile_path) if profile_path else find_profile(key_dir)
    if found is not None:
        try:
            login = login_from_profile(load_profile(found), found)
        except ProfileError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        login = Login(ConsoleConfig().endpoint, TelemetryConfig().endpoint,
                      Path(key_dir) / SERVER_PUBLIC_FILE, None)
    if client_key is not None:
        login = dataclasses.replace(login, client_key=Path(client_key),
                                    expires_at=key_file_expiry(Path(client_key)))
    return dataclasses.replace(
        login, server_key=Path(server_key) if server_key else login.server_key,
        console_endpoint=console_endpoint or login.console_endpoint,
        telemetry_endpoint=publish_endpoint or login.telemetry_endpoint)

