"""``townlet run``: run a town and report what happened."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from typing import Any

import click
import structlog

from townlet.config.options import agents_option, config_option, seed_option
from townlet.ops.logging import set_log_context

__all__ = ["run_command", "run_options", "run_town"]

_log = structlog.get_logger("townlet.sim")


EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C, as shells report a SIGINT death (128 + 2)."""
COMPILING = "compiling the kernel (first run only, about a minute)"


def _load(config_path, agents, endpoints):
    """The config with the command-line overrides; exit 2 with the key path if invalid."""
    from townlet.config import ConfigError, load_config, with_agents, with_settings

    try:
        cfg = load_config(config_path)
        cfg = with_agents(cfg, agents) if agents is not None else cfg
        for (key, flag), value in endpoints.items():
            if value is not None:
                cfg = with_settings(cfg, {key: value}, flag)
        return cfg
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _resumed(name, cfg, allow_mismatch):
    """The world saved in snapshot ``name`` (None without --resume); exit 2 if unusable."""
    if name is None:
        return None
    from townlet.security.sandbox import ForbiddenPath, Sandbox
    from townlet.snapshots import SnapshotError
    from townlet.snapshots.world_io import resume_world

    try:
        world = resume_world(name, cfg, allow_config_mismatch=allow_mismatch)
        path = Sandbox(cfg.snapshots.root).resolve(name)
    except (SnapshotError, ForbiddenPath, OSError) as exc:
        click.echo(f"error: cannot resume from {name!r}: {exc}", err=True)
        sys.exit(2)
    click.echo(f"resumed from snapshot {name!r} ({path}) at tick {world.tick:,}, "
               f"seed {world.seed}", err=True)
    return world


def _print_summary(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    from townlet.sim.report import print_days

    table = Table(title="Run summary", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    rows = [
        ("ticks", f"{summary.ticks:,}" + (" (interrupted)" if summary.interrupted else "")),
        ("population", f"{summary.population:,} / {summary.agents:,}"),
        ("ticks/s", f"{summary.ticks_per_s:,.1f}"),
        ("agent-steps/s", f"{summary.agent_steps_per_s:,.0f}"),
        ("deaths / faints / exits", f"{summary.deaths} / {summary.faints} / {summary.exits}"),
        ("mean needs", ", ".join(f"{k} {v:.2f}" for k, v in summary.mean_needs.items())),
        ("agent-ticks in a critical state", f"{summary.critical_share:.2%}"),
        ("money in circulation", f"{summary.money_in_circulation:,.2f}"
         + ("" if summary.money_conserved else "  (LEDGER MISMATCH)")),
        ("state hash", summary.state_hash[:16]),
    ]
    for row in rows:
        table.add_row(*row)
    events = Table(title="Events", show_header=True)
    events.add_column("event")
    events.add_column("count", justify="right")
    for name, count in sorted(summary.events.items(), key=lambda kv: -kv[1]):
        events.add_row(name, f"{count:,}")
    console = Console()
    console.print(table)
    console.print(events)
    print_days(summary.days, console)


_RUN_OPTIONS = (
    config_option,
    agents_option,
    click.option("--ticks", type=click.IntRange(min=0), default=1440, show_default=True,
                 help="Ticks to run (1440 = one day; 0 = start the services, run no tick)."),
    click.option("--forever", is_flag=True,
                 help="Run until SIGTERM or Ctrl-C, ignoring --ticks (services, containers)."),
    seed_option("Ignored with --resume, which uses the snapshot's seed."),
    click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object."),
    click.option("--threads", type=int, metavar="N",
                 help="Kernel threads (config kernel.threads); the run is the same for every N."),
    click.option("--console/--no-console", default=None,
                 help="Serve the authenticated operator console while running "
                      "[default: console.enabled]."),
    click.option("--console-endpoint", metavar="ENDPOINT",
                 help="Where the console listens, e.g. tcp://127.0.0.1:7600 [default: the "
                      "config's console.endpoint]."),
    click.option("--publish/--no-publish", default=None,
                 help="Write frames and run the publisher [default: telemetry.enabled]."),
    click.option("--publish-endpoint", metavar="ENDPOINT",
                 help="Where the publisher listens, e.g. tcp://127.0.0.1:7700 [default: the "
                      "config's telemetry.endpoint]."),
    click.option("--insecure-dev", is_flag=True,
                 help="Publish plaintext on loopback without authentication (development only)."),
    click.option("--resume", "resume", metavar="NAME",
                 help="Continue from a snapshot in snapshots.root (its seed is used)."),
    click.option("--allow-config-mismatch", is_flag=True,
                 help="Resume even if the snapshot's config differs (logged as a warning)."),
)
"""The options of ``townlet run``, in help order."""


def run_options(command: Callable[..., None]) -> Callable[..., None]:
    """Decorate ``command`` with every option of ``townlet run``."""
    for option in reversed(_RUN_OPTIONS):
        command = option(command)
    return command


@click.command()
@run_options
def run_command(**options) -> None:
    """Run a town with its console and publisher: progress while it runs, a summary
    at the end. Ctrl-C stops after the current tick, prints the summary and exits 130;
    SIGTERM does the same and exits 0 (a requested stop)."""
    run_town(options)


Prepare = Callable[[Any], Callable[[Any], list[str]]]
"""Given the loaded config, check what the run will need (exit 2 on a problem) and
return what to attach to the simulation once its services are up (status lines back)."""


def run_town(options: dict[str, Any], prepare: Prepare | None = None) -> None:
    """``townlet run`` with ``options``; ``prepare`` adds to the simulation (a policy)."""
    try:
        _run(**options, prepare=prepare)
    except KeyboardInterrupt:  # before the loop took over Ctrl-C (loading, compiling)
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _run(config_path, agents, ticks, forever, seed, as_json, threads, console,
         console_endpoint, publish, publish_endpoint, insecure_dev, resume,
         allow_config_mismatch, prepare) -> None:
    import msgspec
    from rich.console import Console

    from townlet.config import config_id
    from townlet.sim.loop import Simulation
    from townlet.sim.services import ServiceStartError, start_services
    from townlet.world._cache import kernel_cached

    cfg = _load(config_path, agents, {("console.endpoint", "--console-endpoint"): console_endpoint,
                                      ("telemetry.endpoint", "--publish-endpoint"):
                                          publish_endpoint, ("kernel.threads", "--threads"): threads})
    set_log_context(config_id=config_id(cfg))  # the publisher inherits it
    ticks = sys.maxsize if forever else ticks
    attach = prepare(cfg) if prepare is not None else None
    publish = cfg.telemetry.enabled if publish is None else publish
    console = cfg.console.enabled if console is None else console
    if not as_json:
        click.echo(f"config_id {config_id(cfg)}  agents {cfg.world.town.agents:,}  seed {seed}")
    screen = Console(stderr=as_json)
    compiling = not kernel_cached()
    spinner = screen.status(COMPILING) if compiling and screen.is_terminal else None
    if compiling and spinner is None:  # no terminal: the note is a log record like the rest
        _log.info("compiling_kernel", detail=COMPILING)
    if spinner is not None:
        spinner.start()
    sim = None
    try:
        sim = Simulation(cfg, seed, world=_resumed(resume, cfg, allow_config_mismatch))
        world = sim.world
        set_log_context(tick=lambda: world.tick)
        try:
            notes = start_services(sim, cfg, console=console, publish=publish,
                                   insecure_dev=insecure_dev)
        except ServiceStartError as exc:
            click.echo(f"error: cannot start the {exc}", err=True)
            sys.exit(2)
        except (OSError, RuntimeError, ValueError) as exc:
            click.echo(f"error: cannot start services: {exc}", err=True)
            sys.exit(1)
        if attach is not None:
            notes += attach(sim)
        for line in notes:
            click.echo(line, err=as_json)
        summary = _run_with_progress(sim, ticks, screen, spinner, show_bar=not as_json)
        if cfg.ops.snapshot_on_stop:
            _final_snapshot(sim.world, sim.identity)
    finally:
        if spinner is not None:
            spinner.stop()
        if sim is not None:
            sim.close()
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(summary)))
    else:
        _print_summary(summary)
    if summary.interrupted and sim.stop_signal == signal.SIGTERM:  # a requested stop: exit 0
        _log.info("stopped", signal="SIGTERM", ticks=summary.ticks)
    elif summary.interrupted:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _final_snapshot(world, identity) -> None:
    """``ops.snapshot_on_stop``: save ``stop-<tick>.tsnap`` (with the policy ``identity``);
    a failure is logged, and the run still ends normally (its summary is printed, the
    ring cleaned up)."""
    from townlet.security.sandbox import ForbiddenPath
    from townlet.snapshots import SnapshotError
    from townlet.snapshots.world_io import save_world

    try:
        path, _ = save_world(world, f"stop-{world.tick:012d}.tsnap", identity=identity,
                             overwrite=True)
    except (SnapshotError, ForbiddenPath, OSError) as exc:
        _log.error("stop_snapshot_failed", error=str(exc))
        return
    _log.info("stop_snapshot_saved", path=str(path))


def _run_with_progress(sim, ticks, screen, spinner, *, show_bar: bool):
    """Run ``ticks`` ticks; the spinner (if any) turns into the progress bar after the
    first tick, so neither the bar's timer nor its rates include loading the kernel."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    agents = sim.world.n_agents
    columns = (TextColumn("tick {task.completed:>8,.0f}/{task.total:,.0f}"), BarColumn(),
               TextColumn("{task.fields[tps]:>9,.0f} ticks/s"),
               TextColumn("{task.fields[sps]:>13,.0f} agent-steps/s"), TimeElapsedColumn())
    progress = Progress(*columns, console=screen, transient=False, disable=not show_bar)
    task = progress.add_task("run", total=ticks, start=False, tps=0.0, sps=0.0)
    every = max(1, min(500, ticks // 100 or 1))

    def update(done: int) -> None:
        if done == 1:
            if spinner is not None:
                spinner.stop()
            progress.start()
            progress.start_task(task)
        if done % every == 0 or done == ticks:
            speed = progress.tasks[0].speed or 0.0
            progress.update(task, completed=done, tps=speed, sps=speed * agents)

    try:
        return sim.run(ticks, update)
    finally:
        if progress.live.is_started:
            progress.stop()
