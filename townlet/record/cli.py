"""``townlet record`` and ``townlet replay``: keep a stream, serve it again."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from townlet.config.options import config_option
from townlet.config.telemetry import TelemetryConfig

__all__ = ["record_command", "replay_command"]

_MIB = 1 << 20


@click.command("record")
@click.option("--endpoint", envvar="TOWNLET_PUBLISH_ENDPOINT",
              default=TelemetryConfig().endpoint, show_default=True,
              help="Publisher endpoint (env TOWNLET_PUBLISH_ENDPOINT).")
@click.option("--server-key", envvar="TOWNLET_SERVER_KEY", type=click.Path(dir_okay=False),
              help="Server public key file (env TOWNLET_SERVER_KEY).")
@click.option("--client-key", envvar="TOWNLET_RECORD_KEY", type=click.Path(dir_okay=False),
              help="The recorder's own client key file from `townlet keys issue` "
                   "(env TOWNLET_RECORD_KEY).")
@click.option("--insecure-dev", is_flag=True, help="Plaintext (development publishers only).")
@click.option("--out", "out", default=".townlet/recordings", show_default=True,
              type=click.Path(file_okay=False), help="Directory of the recording files.")
@click.option("--format", "fmt", type=click.Choice(["arrow", "parquet"]), default="arrow",
              show_default=True, help="Arrow IPC file or Parquet (zstd).")
@click.option("--rotate-mib", default=256.0, show_default=True, type=click.FloatRange(0.001),
              help="Start a new file (at the next keyframe) beyond this size.")
@click.option("--max-mib", default=4096.0, show_default=True, type=click.FloatRange(0.001),
              help="Delete the oldest recordings to keep the directory below this size.")
@click.option("--messages", default=0, show_default=True, type=click.IntRange(0),
              help="Stop after recording this many messages (0 = until SIGTERM or the "
                   "end of the stream).")
@click.option("--http-port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port of /metrics, /livez and /readyz (0 = none).")
@click.option("--http-host", default="127.0.0.1", show_default=True,
              help="Interface of that endpoint.")
def record_command(endpoint: str, server_key: str | None, client_key: str | None,
                   insecure_dev: bool, out: str, fmt: str, rotate_mib: float, max_mib: float,
                   messages: int, http_port: int, http_host: str) -> None:
    """Record a publisher's stream into rotating Arrow IPC or Parquet files
    (docs/ops/recording.md). Prints a JSON summary at the end; SIGTERM stops it."""
    from townlet.client.subscriber import Subscriber
    from townlet.ops.http import ProbeServer
    from townlet.ops.logging import set_log_context
    from townlet.record.recorder import Recorder
    from townlet.security import KeyFileError

    if max_mib < rotate_mib:
        raise click.UsageError("--max-mib must be at least --rotate-mib")
    try:
        sub = Subscriber(endpoint, server_key, client_key, insecure_dev=insecure_dev)
    except (ValueError, KeyFileError) as exc:
        raise click.ClickException(str(exc)) from None
    rec = Recorder(sub, out, fmt="parquet" if fmt == "parquet" else "arrow",
                   rotate_bytes=int(rotate_mib * _MIB), max_bytes=int(max_mib * _MIB))
    set_log_context(tick=lambda: rec.stats.last_tick)
    http = None
    if http_port:
        http = ProbeServer(rec.registry, host=http_host, port=http_port, live=rec.live,
                           ready=rec.ready)
        try:
            http.start()
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {http_host}:{http_port}: "
                                       f"{exc.strerror}") from None
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    try:
        while not stop and (messages == 0 or rec.recorded < messages):
            up = rec.step()
            if up is not None and up.kind == "end":
                break
            if sub.config_id:
                set_log_context(config_id=sub.config_id)
    except KeyboardInterrupt:
        pass
    finally:
        rec.close()
        sub.close()
        if http is not None:
            http.close()
    click.echo(json.dumps(rec.summary()))


@click.command("replay")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.option("--endpoint", help="Where the replay publisher listens [default: the "
                                 "config's telemetry.endpoint].")
@click.option("--metrics-port", type=click.IntRange(0, 65535),
              help="The replay publisher's /metrics port [default: telemetry.metrics_port].")
@click.option("--key-dir", envvar="TOWNLET_KEY_DIR", type=click.Path(file_okay=False),
              help="Key directory of the replay publisher (env TOWNLET_KEY_DIR) "
                   "[default: keys.dir].")
@click.option("--insecure-dev", is_flag=True, help="Plaintext on loopback (development).")
@click.option("--tps", default=10.0, show_default=True, type=click.FloatRange(0.0),
              help="Ticks per second (0 = as fast as possible; the publisher then ships "
                   "only the newest frame).")
@click.option("--wait-for", default=0, show_default=True, type=click.IntRange(0),
              help="Start once this many subscribers are connected (needs a metrics port).")
def replay_command(files: tuple[Path, ...], config_path: str | None, endpoint: str | None,
                   metrics_port: int | None, key_dir: str | None, insecure_dev: bool,
                   tps: float, wait_for: int) -> None:
    """Serve recordings (in the order given) through a publisher, like a live town.
    Prints the publisher's ready line, then a JSON summary."""
    import msgspec

    from townlet.config import ConfigError, load_config
    from townlet.publish.spawn import PublisherStartError
    from townlet.record.replay import ReplayError, replay

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    changes: dict[str, object] = {"insecure_dev": insecure_dev or cfg.telemetry.insecure_dev}
    if endpoint is not None:
        changes["endpoint"] = endpoint
    if metrics_port is not None:
        changes["metrics_port"] = metrics_port
    tcfg = msgspec.structs.replace(cfg.telemetry, **changes)
    if wait_for and not tcfg.metrics_port:
        raise click.UsageError("--wait-for needs the publisher's metrics: give --metrics-port")

    def ready(line: dict) -> None:
        click.echo(json.dumps(line))
        sys.stdout.flush()

    try:
        summary = replay(files, tcfg, key_dir or cfg.keys.dir, tps=tps, wait_for=wait_for,
                         on_ready=ready)
    except (ReplayError, PublisherStartError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(summary))
