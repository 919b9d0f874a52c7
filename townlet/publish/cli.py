"""``townlet publish``: serve a frame ring to subscribers (normally spawned by `townlet run`)."""

from __future__ import annotations

import json
import sys

import click

from townlet.ops.logging import configure_logging

__all__ = ["publish_command"]


@click.command("publish")
@click.option("--ring", required=True, help="Shared-memory ring name (/townlet-...).")
@click.option("--endpoint", default="tcp://127.0.0.1:7710", show_default=True,
              help="XPUB bind endpoint (tcp://host:port, port * = any).")
@click.option("--doorbell", default=None, help="nng address to listen on for doorbells.")
@click.option("--key-dir", default=None, type=click.Path(file_okay=False),
              help="Key directory (`townlet keys init`): server.key_secret, registry.json.")
@click.option("--server-key", default=None, type=click.Path(dir_okay=False),
              help="Server secret key file (overrides --key-dir).")
@click.option("--registry", default=None, type=click.Path(dir_okay=False),
              help="Key registry file (overrides --key-dir).")
@click.option("--insecure-dev", is_flag=True,
              help="Plaintext, no authentication, loopback only (development).")
@click.option("--keyframe-interval", default=100, show_default=True, type=click.IntRange(1),
              help="Ticks between periodic keyframes.")
@click.option("--keyframe-min-seconds", default=0.1, show_default=True,
              type=click.FloatRange(0, 60), help="Least time between requested keyframes.")
@click.option("--hwm", default=16, show_default=True, type=click.IntRange(1),
              help="Messages queued per subscriber before dropping.")
@click.option("--metrics-port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Prometheus port (0 = none).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Interface the metrics exporter listens on.")
@click.option("--health-seconds", default=1.0, show_default=True,
              type=click.FloatRange(0.01, 3600), help="Interval of health messages.")
@click.option("--nice", default=10, show_default=True, type=click.IntRange(0, 19),
              help="Niceness added to this process so the simulation wins busy cores.")
def publish_command(ring: str, endpoint: str, doorbell: str | None, key_dir: str | None,
                    server_key: str | None, registry: str | None, insecure_dev: bool,
                    keyframe_interval: int, keyframe_min_seconds: float, hwm: int,
                    metrics_port: int, metrics_host: str, health_seconds: float,
                    nice: int) -> None:
    """Publish frames of a running simulation over ZeroMQ (CURVE + key registry).

    Prints one JSON line to stdout when ready ({"event": "ready", "endpoint": ...});
    logs go to stderr. Exits 0 when the simulation closes its ring.
    """
    import zmq

    from townlet.frames.ring import RingError
    from townlet.publish.server import Publisher, PublisherOptions
    from townlet.publish.sockets import ConfigurationError
    from townlet.security import KeyFileError

    configure_logging()
    opts = PublisherOptions(ring=ring, endpoint=endpoint, doorbell=doorbell, key_dir=key_dir,
                            server_key=server_key, registry=registry, insecure_dev=insecure_dev,
                            keyframe_interval=keyframe_interval,
                            keyframe_min_seconds=keyframe_min_seconds, hwm=hwm,
                            metrics_port=metrics_port, metrics_host=metrics_host,
                            health_seconds=health_seconds, nice=nice)
    try:
        pub = Publisher(opts)
    except RingError as exc:
        raise click.ClickException(f"{exc} (is the simulation running?)") from None
    try:
        try:
            pub.start()
        except (ConfigurationError, KeyFileError) as exc:
            raise click.ClickException(str(exc)) from None
        except zmq.ZMQError as exc:
            raise click.ClickException(f"cannot bind {endpoint}: {exc}") from None
        except OSError as exc:
            raise click.ClickException(
                f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc}") from None
        sys.stdout.write(json.dumps({"event": "ready", "endpoint": pub.sock.endpoint,
                                     "metrics_port": pub.metrics_port, "stream": pub.stream,
                                     "secure": pub.sock.secure}) + "\n")
        sys.stdout.flush()
        pub.run()
    finally:
        pub.close()
