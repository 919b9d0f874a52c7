"""``townlet bench``: the quick benchmark set, printed as a table or JSON.

Each town size and thread count runs in its own process so that peak RSS is that
run's alone; the figure reported is agent-steps per second after a warm-up (wall clock),
next to the process CPU per agent-tick (``cpu_ns_per_agent_tick``, summed over all the
process's threads: on a busy machine it leaves out the time other processes hold the
core, which the wall figure counts), on ``--threads`` kernel threads (townlet.world.waves; ``wave_share``: the timed ticks whose
turns all ran on those threads, the rest ran some or all on one; ``wave_row_share``: the
timed ticks' district rows that ran on those threads, the rest ran in slot order on one).
With
``--phases`` each run also measures what every tick phase costs
(townlet.world.phases).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["CPU_COLUMN", "bench_command", "child_python", "measure", "tick_table"]


def measure(agents: int, ticks: int, warmup: int, seed: int = 0, threads: int = 1,
            phases: bool = False) -> dict:
    """Ticks/s and agent-steps/s of the scripted town at ``agents`` agents on ``threads``
    kernel threads, and the process CPU per agent-tick (all threads together); with
    ``phases``, also ns per agent-tick of each tick phase over
    ``ticks`` more ticks."""
    from townlet.config import default_config, with_agents, with_settings
    from townlet.world import World

    config = with_settings(with_agents(default_config(), agents), {"kernel.threads": threads},
                           "--threads")
    t0 = time.perf_counter()
    world = World(config, seed)
    build = time.perf_counter() - t0
    for _ in range(warmup):
        world.step()
    t0, cpu0, waves, rows = time.perf_counter(), time.process_time(), world.wave_ticks, world.wave_rows
    for _ in range(ticks):
        world.step()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    row: dict[str, object] = {
        "wave_share": round((world.wave_ticks - waves) / ticks, 3),
        "wave_row_share": round((world.wave_rows - rows) / (world.district_rows * ticks), 3),
        "agents": agents, "threads": threads, "ticks": ticks, "build_s": round(build, 3),
        "ticks_per_s": round(ticks / seconds, 2),
        "agent_steps_per_s": round(agents * ticks / seconds),
        "ns_per_agent_tick": round(seconds / (agents * ticks) * 1e9, 2),
        "cpu_ns_per_agent_tick": round(cpu / (agents * ticks) * 1e9, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if phases:
        from townlet.world.phases import phase_costs

        row["phases_ns"] = {k: round(v, 2) for k, v in phase_costs(world, ticks).items()}
    return row


CPU_COLUMN = "cpu ns/agent-tick (all threads)"
"""The process-CPU column: with more than one thread it sums their CPU, so it exceeds the
wall figure when the threads overlap."""


def tick_table(rows: list[dict]):
    """The kernel table: one row per run of :func:`measure`."""
    from rich.table import Table

    table = Table(title="Scripted town tick")
    for col in ("agents", "threads", "wave ticks", "agent-steps/s", "ns/agent-tick",
                CPU_COLUMN, "ticks/s", "peak RSS MB", "build s"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r['agents']:,}", f"{r['threads']}", f"{r['wave_share']:.0%}",
                      f"{r['agent_steps_per_s']:,}", f"{r['ns_per_agent_tick']}",
                      f"{r['cpu_ns_per_agent_tick']}", f"{r['ticks_per_s']:,}",
                      f"{r['peak_rss_mb']:,}", f"{r['build_s']}")
    return table


def _counts(text: str, option: str) -> list[int]:
    """Positive integers from a comma-separated option value."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}",
                                 param_hint=option) from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"expected positive integers, got {text!r}", param_hint=option)
    return values


def _phase_table(rows: list[dict]):
    """ns per agent-tick of every phase (rows) for every run (columns)."""
    from rich.table import Table

    table = Table(title="Tick phases, ns per agent-tick (cost added to the phases before)")
    table.add_column("phase")
    for r in rows:
        table.add_column(f"{r['agents']:,} x{r['threads']}", justify="right")
    for name in rows[0]["phases_ns"]:
        table.add_row(name, *(f"{r['phases_ns'][name]:.1f}" for r in rows))
    return table


_FREE_PORTS = """\
console:
  endpoint: tcp://127.0.0.1:0
telemetry:
  endpoint: tcp://127.0.0.1:0
  metrics_port: 0
"""
"""The default town with every listening port chosen by the OS."""


def child_python() -> tuple[list[str], dict[str, str]]:
    """Interpreter command and environment for a child that imports the same ``townlet`` as
    this process, wherever it runs: an A/B run from an old tree must time that tree's code,
    not the installed package's. ``-P`` keeps the child's working directory off
    ``sys.path``, and ``PYTHONPATH`` starts with the directory this package was imported
    from."""
    import townlet

    root = str(Path(townlet.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return [sys.executable, "-P"], env


def _cold_start() -> float:
    """Seconds for ``townlet run --ticks 1`` in a fresh process (warm Numba cache).

    The runs happen in a temporary directory, so the keys and the audit log they
    create never land in the caller's working directory (a checkout), and on free
    ports, so a town already running on this machine does not make them fail; they
    import this process's ``townlet`` (:func:`child_python`)."""
    python, env = child_python()
    with tempfile.TemporaryDirectory(prefix="townlet-bench-") as workdir:
        ports = Path(workdir) / "ports.yaml"
        ports.write_text(_FREE_PORTS)
        cmd = [*python, "-m", "townlet", "run", "--config", str(ports), "--ticks", "1",
               "--json", "--agents", "1000"]
        subprocess.run(cmd, check=True, capture_output=True, cwd=workdir, env=env)  # warms
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=workdir, env=env)
        return round(time.perf_counter() - t0, 3)


def _one(agents: int, ticks: int, warmup: int, threads: int, phases: bool) -> dict:
    """One :func:`measure` row, run in a fresh process (its peak RSS is that run's alone)
    on this process's ``townlet``."""
    python, env = child_python()
    cmd = [*python, "-m", "townlet", "bench", "--one", str(agents), "--ticks",
           str(ticks), "--warmup", str(warmup), "--threads", str(threads)]
    out = subprocess.run(cmd + (["--phases"] if phases else []),
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


@click.command()
@click.option("--sizes", default="1000,10000,100000", show_default=True,
              help="Comma-separated agent counts.")
@click.option("--ticks", type=click.IntRange(min=1), default=200, show_default=True,
              help="Ticks timed per town size (after --warmup).")
@click.option("--warmup", type=click.IntRange(min=0), default=720, show_default=True,
              help="Ticks before timing (the town settles into its day).")
@click.option("--threads", default="1", show_default=True,
              help="Comma-separated kernel thread counts (kernel.threads) to run each size on.")
@click.option("--phases", is_flag=True,
              help="Also measure each tick phase's cost (ns per agent-tick) over --ticks ticks.")
@click.option("--quick", is_flag=True, help="Small sizes and few ticks (CI smoke run).")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--one", type=int, hidden=True)
def bench_command(sizes, ticks, warmup, threads, phases, quick, as_json, one) -> None:
    """Measure the scripted town tick at several sizes and thread counts, and the cold start."""
    counts = _counts(threads, "--threads")
    if one is not None:
        click.echo(json.dumps(measure(one, ticks, warmup, threads=counts[0], phases=phases)))
        return
    if quick:
        sizes, ticks, warmup = "1000,10000", 50, 50
    rows = [_one(n, ticks, warmup, k, phases) for n in _counts(sizes, "--sizes") for k in counts]
    result = {"tick": rows, "cold_start_s": _cold_start()}
    if as_json:
        click.echo(json.dumps(result))
        return
    tables = [tick_table(rows)] + ([_phase_table(rows)] if phases else [])
    console = _whole_width(tables)
    for table in tables:
        console.print(table)
    console.print(f"cold start of `townlet run --ticks 1`: {result['cold_start_s']} s")


def _whole_width(tables: list) -> Console:
    """A console to stdout that prints ``tables`` without shortening a header or a value:
    a terminal keeps its width, but into a pipe or a file, where Rich assumes 80 columns,
    the console is as wide as the widest table."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console()
    if console.is_terminal:
        return console
    unbounded = console.options.update_width(1 << 16)
    widest = max(Measurement.get(console, unbounded, t).maximum for t in tables)
    return Console(width=max(console.width, widest))
