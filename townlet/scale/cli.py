"""``townlet sweep``: many towns from one spec, on Ray, into one results table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from townlet.config.paths import STATE_DIR

__all__ = ["sweep_command"]


@click.command()
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help=f"Results folder (journal + table) [default: {STATE_DIR}/sweeps/<spec name>]; "
                   "rerunning into the same folder resumes.")
@click.option("--ray-address", default="local", show_default=True, metavar="ADDRESS",
              help="'local' starts Ray for this sweep; 'auto' or ray://host:port joins a "
                   "running cluster; 'none' runs the towns serially without Ray.")
@click.option("--workers", type=click.IntRange(min=1),
              help="CPUs of the local Ray instance [default: all cores].")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Reruns of a town whose worker process died.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv",
              show_default=True, help="Results table format (parquet needs pyarrow).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the results as JSON (one object per town) instead of a table.")
def sweep_command(spec_path, out_dir, ray_address, workers, retries, fmt, as_json) -> None:
    """Run every town of SPEC.yaml (seeds × agents × variants; see docs/scaling.md) as
    Ray tasks and collect one row per town. Exit 1 if a town failed."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from townlet.scale.results import Journal, flat_row, print_table, write_table
    from townlet.scale.spec import SpecError, load_spec
    from townlet.scale.sweep import run_sweep

    try:
        _, jobs = load_spec(spec_path)
        journal = Journal(Path(out_dir or Path(STATE_DIR, "sweeps", Path(spec_path).stem)))
    except (SpecError, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            click.echo("error: --format parquet needs pyarrow (pip install pyarrow)", err=True)
            sys.exit(2)
    screen = Console(stderr=True)
    done = sum(job.key in journal.done for job in jobs)
    if done:
        screen.print(f"resuming: {done} of {len(jobs)} towns already in {journal.path}")
    progress = Progress(TextColumn("towns"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=screen)
    with progress:
        bar = progress.add_task("sweep", total=len(jobs), completed=done, last="")
        outcome = run_sweep(
            jobs, journal, address=ray_address, workers=workers, retries=retries,
            on_done=lambda job, result: progress.update(
                bar, advance=1, last=job.key + ("" if result else " FAILED")))
    table = write_table(outcome.results, journal.path.parent, fmt)
    if as_json:
        click.echo(json.dumps([flat_row(r) for r in sorted(outcome.results,
                                                             key=lambda r: r.key)]))
    else:
        print_table(outcome.results)
    screen.print(f"{len(outcome.ran)} towns run, {len(outcome.skipped)} resumed, "
                 f"{len(outcome.failed)} failed; table: {table}")
    for key, error in outcome.failed.items():
        screen.print(f"[red]failed[/red] {key}: {error}")
    sys.exit(1 if outcome.failed else 0)
