"""``townlet bench``: the quick benchmark set, printed as a table or JSON.

Each town size runs in its own process so that peak RSS is that size's alone;
the figure reported is agent-steps per second on one core after a warm-up.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

__all__ = ["bench_command", "measure"]


def measure(agents: int, ticks: int, warmup: int, seed: int = 0) -> dict:
    """Ticks/s and agent-steps/s of the scripted town at ``agents`` agents."""
    from townlet.config import default_config, with_agents
    from townlet.world import World

    t0 = time.perf_counter()
    world = World(with_agents(default_config(), agents), seed)
    build = time.perf_counter() - t0
    for _ in range(warmup):
        world.step()
    t0 = time.perf_counter()
    for _ in range(ticks):
        world.step()
    seconds = time.perf_counter() - t0
    return {"agents": agents, "ticks": ticks, "build_s": round(build, 3),
            "ticks_per_s": round(ticks / seconds, 2),
            "agent_steps_per_s": round(agents * ticks / seconds),
            "ns_per_agent_tick": round(seconds / (agents * ticks) * 1e9, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


_FREE_PORTS = """\
console:
  endpoint: tcp://127.0.0.1:0
telemetry:
  endpoint: tcp://127.0.0.1:0
  metrics_port: 0
"""
"""The default town with every listening port chosen by the OS."""


def _cold_start() -> float:
    """Seconds for ``townlet run --ticks 1`` in a fresh process (warm Numba cache).

    The runs happen in a temporary directory, so the keys and the audit log they
    create never land in the caller's working directory (a checkout), and on free
    ports, so a town already running on this machine does not make them fail."""
    with tempfile.TemporaryDirectory(prefix="townlet-bench-") as workdir:
        ports = Path(workdir) / "ports.yaml"
        ports.write_text(_FREE_PORTS)
        cmd = [sys.executable, "-m", "townlet", "run", "--config", str(ports), "--ticks", "1",
               "--json", "--agents", "1000"]
        subprocess.run(cmd, check=True, capture_output=True, cwd=workdir)  # warms the cache
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=workdir)
        return round(time.perf_counter() - t0, 3)


@click.command()
@click.option("--sizes", default="1000,10000,100000", show_default=True,
              help="Comma-separated agent counts.")
@click.option("--ticks", type=click.IntRange(min=1), default=200, show_default=True,
              help="Ticks timed per town size (after --warmup).")
@click.option("--warmup", type=click.IntRange(min=0), default=720, show_default=True,
              help="Ticks before timing (the town settles into its day).")
@click.option("--quick", is_flag=True, help="Small sizes and few ticks (CI smoke run).")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--one", type=int, hidden=True)
def bench_command(sizes, ticks, warmup, quick, as_json, one) -> None:
    """Measure the scripted town tick at several sizes and the cold start."""
    if one is not None:
        click.echo(json.dumps(measure(one, ticks, warmup)))
        return
    if quick:
        sizes, ticks, warmup = "1000,10000", 50, 50
    rows = []
    for n in (int(s) for s in sizes.split(",")):
        out = subprocess.run([sys.executable, "-m", "townlet", "bench", "--one", str(n),
                              "--ticks", str(ticks), "--warmup", str(warmup)],
                             check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout))
    result = {"tick": rows, "cold_start_s": _cold_start()}
    if as_json:
        click.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Scripted town tick (one core)")
    for col in ("agents", "agent-steps/s", "ns/agent-tick", "ticks/s", "peak RSS MB", "build s"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r['agents']:,}", f"{r['agent_steps_per_s']:,}",
                      f"{r['ns_per_agent_tick']}", f"{r['ticks_per_s']:,}",
                      f"{r['peak_rss_mb']:,}", f"{r['build_s']}")
    console = Console()
    console.print(table)
    console.print(f"cold start of `townlet run --ticks 1`: {result['cold_start_s']} s")
