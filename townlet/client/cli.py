"""``townlet subscribe``: print per-message stats of a telemetry stream."""

from __future__ import annotations

import gc
import json
import sys
import time

import click

from townlet.config.telemetry import TelemetryConfig

__all__ = ["subscribe_command"]


@click.command("subscribe")
@click.option("--endpoint", default=TelemetryConfig().endpoint, show_default=True,
              help="Publisher endpoint (the simulation's telemetry.endpoint).")
@click.option("--server-key", default=None, type=click.Path(dir_okay=False),
              help="Server public key file (server.key).")
@click.option("--client-key", default=None, type=click.Path(dir_okay=False),
              help="Client keypair file from `townlet keys issue`.")
@click.option("--insecure-dev", is_flag=True, help="Plaintext (development publishers only).")
@click.option("--count", default=10, show_default=True, type=click.IntRange(1),
              help="Messages to print before exiting.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1),
              help="Give up (exit 1) after this many seconds without a message.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def subscribe_command(endpoint: str, server_key: str | None, client_key: str | None,
                      insecure_dev: bool, count: int, timeout: float, as_json: bool) -> None:
    """Subscribe to a publisher and print tick, kind, bytes and lag of each message
    (stops early at the end of the stream)."""
    from townlet.client.subscriber import Subscriber
    from townlet.security import KeyFileError

    try:
        sub = Subscriber(endpoint, server_key, client_key, insecure_dev=insecure_dev)
    except (ValueError, KeyFileError) as exc:
        raise click.ClickException(str(exc)) from None
    gc.freeze()  # what lives now lives until exit: the collector walks only new objects
    t0 = time.monotonic()
    with sub:
        for i in range(count):
            up = sub.recv(timeout)
            if up is None:
                click.echo(f"no message within {timeout}s ({i} of {count} received)", err=True)
                sys.exit(1)
            row = {"tick": up.tick, "kind": up.kind, "seq": up.seq, "bytes": up.nbytes,
                   "lag_ticks": up.lag_ticks, "latency_ms": round(up.latency_ms, 3),
                   "events": int(up.events.size), "synced": sub.synced}
            if as_json:
                click.echo(json.dumps(row))
            else:
                click.echo(f"{row['tick']:>10} {row['kind']:<7} seq={row['seq']:<8} "
                           f"{row['bytes']:>10} B  lag={row['lag_ticks']} ticks "
                           f"{row['latency_ms']:.1f} ms  events={row['events']}")
            if up.kind == "end":
                click.echo(f"end of stream ({up.end.reason if up.end else 'unknown'})",
                           err=True)
                break
        st = sub.stats
        summary = {"summary": True, "seconds": round(time.monotonic() - t0, 3),
                   "keyframes": st.keyframes, "deltas": st.deltas, "health": st.health,
                   "bytes": st.bytes, "gaps": st.gaps, "missed": st.missed,
                   "resyncs_sent": st.resyncs_sent, "bad_messages": st.bad_messages}
        click.echo(json.dumps(summary) if as_json else
                   " ".join(f"{k}={v}" for k, v in summary.items() if k != "summary"))
