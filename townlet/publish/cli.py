"""``townlet publish``: serve a frame ring to subscribers (normally spawned by `townlet run`).

Option defaults come from :class:`~townlet.config.telemetry.PublisherSettings`
and values are validated by it, so the CLI and the config cannot disagree.
"""

from __future__ import annotations

import gc
import json
import sys

import click

from townlet.config.paths import KEYS_DIR
from townlet.config.telemetry import PublisherSettings
from townlet.ops.logging import configure_logging

__all__ = ["publish_command"]

_D = PublisherSettings()


@click.command("publish")
@click.option("--ring", required=True, help="Shared-memory ring name (/townlet-...).")
@click.option("--endpoint", default=_D.endpoint, show_default=True,
              help="XPUB bind endpoint (tcp://host:port, port * = any).")
@click.option("--doorbell", default=None, help="nng address to listen on for doorbells.")
@click.option("--key-dir", default=KEYS_DIR, show_default=True, envvar="TOWNLET_KEY_DIR",
              type=click.Path(file_okay=False),
              help="Key directory (`townlet keys init`): server.key_secret, registry.json "
                   "(env TOWNLET_KEY_DIR).")
@click.option("--server-key", default=None, type=click.Path(dir_okay=False),
              help="Server secret key file (overrides --key-dir).")
@click.option("--registry", default=None, type=click.Path(dir_okay=False),
              help="Key registry file (overrides --key-dir).")
@click.option("--insecure-dev", is_flag=True, default=_D.insecure_dev,
              help="Plaintext, no authentication, loopback only (development).")
@click.option("--keyframe-interval", default=_D.keyframe_interval, show_default=True, type=int,
              help="Ticks between periodic keyframes.")
@click.option("--keyframe-min-seconds", default=_D.keyframe_min_seconds, show_default=True,
              type=float, help="Least time between requested keyframes.")
@click.option("--hwm", default=_D.hwm, show_default=True, type=int,
              help="Messages queued per subscriber before dropping.")
@click.option("--metrics-port", default=_D.metrics_port, show_default=True, type=int,
              help="Prometheus port (0 = none).")
@click.option("--metrics-host", default=_D.metrics_host, show_default=True,
              help="Interface of the Prometheus exporter.")
@click.option("--health-seconds", default=_D.health_seconds, show_default=True, type=float,
              help="Interval of health messages.")
@click.option("--poll-ms", default=_D.poll_ms, show_default=True, type=int,
              help="Longest wait for a doorbell before looking at the ring anyway.")
@click.option("--nice", default=_D.nice, show_default=True, type=int,
              help="Niceness added to this process so the simulation wins busy cores.")
@click.option("--restarts", default=0, type=click.IntRange(0),
              help="Times the simulation restarted its publisher before this one "
                   "(reported in health messages and metrics).")
def publish_command(ring: str, doorbell: str | None, key_dir: str, server_key: str | None,
                    registry: str | None, restarts: int, **settings) -> None:
    """Publish frames of a running simulation over ZeroMQ (CURVE + key registry).

    Prints one JSON line to stdout when ready ({"event": "ready", "endpoint": ...});
    logs go to stderr. Exits 0 when the simulation closes its ring.
    """
    import zmq

    from townlet.config.telemetry import publisher_settings
    from townlet.frames.ring import RingError
    from townlet.publish.server import Publisher, PublisherKeys
    from townlet.publish.sockets import ConfigurationError
    from townlet.security import KeyFileError

    configure_logging()
    try:
        opts = publisher_settings(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    keys = PublisherKeys(key_dir=key_dir, server_key=server_key, registry=registry)
    try:
        pub = Publisher(ring, opts, doorbell=doorbell, keys=keys, restarts=restarts)
    except RingError as exc:
        raise click.ClickException(f"{exc} (is the simulation running?)") from None
    try:
        try:
            pub.start()
        except (ConfigurationError, KeyFileError) as exc:
            raise click.ClickException(str(exc)) from None
        except zmq.ZMQError as exc:
            raise click.ClickException(f"cannot bind {opts.endpoint}: {exc}") from None
        except OSError as exc:
            raise click.ClickException(f"cannot serve metrics on {opts.metrics_host}:"
                                       f"{opts.metrics_port}: {exc}") from None
        # Everything alive now lives as long as the process (modules, schema, buffers):
        # out of the cyclic collector's way, each message's garbage is all it walks
        # (it walked the ~80k objects of the imported CLI, a fifth of the CPU per message).
        gc.freeze()
        sys.stdout.write(json.dumps({"event": "ready", "endpoint": pub.sock.endpoint,
                                     "metrics_port": pub.metrics_port, "stream": pub.stream,
                                     "secure": pub.sock.secure}) + "\n")
        sys.stdout.flush()
        pub.run()
    finally:
        pub.close()
