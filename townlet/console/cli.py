"""``townlet console``: an interactive REPL, or ``townlet console exec NAME [ARGS]`` for scripts.

Exit codes of ``exec``: 0 ok, 1 the command failed (error code printed),
2 bad usage, 3 server unreachable, 4 handshake refused or failed, 5 timeout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from townlet.config.console import ConsoleConfig
from townlet.config.paths import KEYS_DIR

__all__ = ["console_command"]

EXIT_FAILED, EXIT_UNREACHABLE, EXIT_HANDSHAKE, EXIT_TIMEOUT = 1, 3, 4, 5


_DEFAULTS = ConsoleConfig()


@click.group("console", invoke_without_command=True)
@click.option("--endpoint", envvar="TOWNLET_CONSOLE_ENDPOINT", default=_DEFAULTS.endpoint,
              show_default=True,
              help="Console server endpoint (env TOWNLET_CONSOLE_ENDPOINT; the server's "
                   "console.endpoint).")
@click.option("--server-key", envvar="TOWNLET_SERVER_KEY", type=click.Path(dir_okay=False),
              show_default=f"server.key in {KEYS_DIR}",
              help="Server public key file (env TOWNLET_SERVER_KEY).")
@click.option("--client-key", "key_file", envvar="TOWNLET_CONSOLE_KEY",
              type=click.Path(dir_okay=False),
              help="Your client key file from `townlet keys issue` (env TOWNLET_CONSOLE_KEY); "
                   "required to connect.")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds per request.")
@click.option("--history", envvar="TOWNLET_CONSOLE_HISTORY",
              default=str(Path.home() / ".townlet_console_history"), show_default=True,
              help="REPL history file.")
@click.pass_context
def console_command(ctx: click.Context, endpoint: str, server_key: str | None,
                    key_file: str | None, timeout: float, history: str) -> None:
    """Operate a running simulation over the authenticated console."""
    ctx.obj = {"endpoint": endpoint, "server_key": server_key, "key": key_file,
               "timeout": timeout}
    if ctx.invoked_subcommand is None:
        _repl(ctx.obj, Path(history))


def _client(opts: dict[str, Any]):
    from townlet.client.console import ConsoleClient
    from townlet.security.keys import SERVER_PUBLIC_FILE, KeyFileError

    server_key = opts["server_key"] or str(Path(KEYS_DIR) / SERVER_PUBLIC_FILE)
    if opts["key"] is None:
        raise click.UsageError("no client key: pass --client-key FILE or set TOWNLET_CONSOLE_KEY "
                               "(issue one with `townlet keys issue`)")
    try:
        return ConsoleClient(opts["endpoint"], server_key, opts["key"],
                             timeout=opts["timeout"])
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None


def _run(client: Any, name: str, args: list[Any], kwargs: dict[str, Any], as_json: bool) -> int:
    """Run one command, print its outcome, return the exit code."""
    import msgspec

    from townlet.client.errors import (
        ConsoleTimeout,
        Forbidden,
        HandshakeFailed,
        HandshakeRefused,
        ServerUnreachable,
    )
    from townlet.client.repl import format_result

    try:
        resp = client.request(name, args, kwargs)
    except ServerUnreachable as exc:
        click.echo(f"server unreachable: {exc}", err=True)
        return EXIT_UNREACHABLE
    except HandshakeRefused as exc:
        click.echo(f"handshake refused (key unknown/expired/revoked): {exc}", err=True)
        return EXIT_HANDSHAKE
    except HandshakeFailed as exc:
        click.echo(f"handshake failed: {exc}", err=True)
        return EXIT_HANDSHAKE
    except ConsoleTimeout as exc:
        click.echo(f"timeout: {exc}", err=True)
        return EXIT_TIMEOUT
    if as_json:
        click.echo(msgspec.json.encode(resp).decode())
        return 0 if resp.ok else EXIT_FAILED
    if resp.ok:
        click.echo(format_result(resp.result))
        return 0
    err = resp.error
    code, message = (err.code, err.message) if err is not None else ("E_INTERNAL", "")
    if code in (Forbidden.code, "E_FORBIDDEN_PATH"):
        click.echo(f"forbidden for your role: {code}: {message}", err=True)
    else:
        click.echo(f"{code}: {message}", err=True)
    return EXIT_FAILED


@console_command.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--json", "as_json", is_flag=True, help="Print the whole response as JSON.")
@click.pass_obj
def exec_command(opts: dict[str, Any], name: str, args: tuple[str, ...], as_json: bool) -> None:
    """Run one command: ARGS are positional values or key=value (values parsed as JSON)."""
    from townlet.client.repl import parse_tokens

    pos, kw = parse_tokens(args)
    client = _client(opts)
    try:
        code = _run(client, name, pos, kw, as_json)
    finally:
        client.close()
    sys.exit(code)


def _repl(opts: dict[str, Any], history: Path) -> None:
    from townlet.client.errors import ConsoleConnectionError
    from townlet.client.repl import run_repl

    client = _client(opts)
    try:
        try:
            names = [c["name"] for c in client.call("help")["commands"]]
        except ConsoleConnectionError as exc:
            raise click.ClickException(f"cannot start the console: {exc}") from None
        click.echo(f"connected to {opts['endpoint']}; Tab completes, 'help', 'quit'")

        def execute(name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
            _run(client, name, args, kwargs, False)  # errors are printed; the REPL goes on

        run_repl(execute, names, history)
    finally:
        client.close()
