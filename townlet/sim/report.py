"""``townlet report``: run a town headless for some days and show its per-day figures
(townlet.sim.days) as tables, or as JSON for scripts."""

from __future__ import annotations

import json
import sys

import click

from townlet.config.options import agents_option, config_option, seed_option

__all__ = ["print_days", "report_command"]


def print_days(days, console) -> None:
    """The per-day table, then the activity by hour averaged over the days."""
    from rich.table import Table

    table = Table(title="Town by day")
    for name in ("day", "ticks", "pop", "deaths", "faints", "exits", "money/agent", "needs",
                 "prices", "rival ties", "rival agents", "friend ties", "friend agents",
                 "max goal change", "sleep onsets", "peak sleep hour"):
        table.add_column(name, justify="left" if name in ("needs", "prices") else "right")
    for d in days:
        table.add_row(
            str(d.day), f"{d.ticks:,}", f"{d.population:,}", str(d.deaths), str(d.faints),
            str(d.exits), f"{d.money_per_capita:,.2f}",
            " ".join(f"{k[:3]} {v:.2f}" for k, v in d.mean_needs.items()),
            " ".join(f"{k} {v:.2f}" for k, v in d.prices.items()),
            f"{d.rival_ties:,}", f"{d.rival_share:.1%}", f"{d.friend_ties:,}",
            f"{d.friend_share:.1%}", f"{d.max_goal_change:.1%}", f"{d.sleep_onsets:,}",
            f"{d.peak_sleep_hour_share:.0%}")
    console.print(table)
    if not days:
        return
    hours = len(next(iter(days[0].activity.values())))
    activity = Table(title=f"Activity by hour: share of agents per goal (mean of {len(days)} "
                           "day(s))")
    activity.add_column("goal")
    for h in range(hours):
        activity.add_column(f"{h:02d}", justify="right")
    for goal in days[0].activity:
        shares = [sum(d.activity[goal][h] for d in days) / len(days) for h in range(hours)]
        if any(shares):
            activity.add_row(goal, *(f"{100 * v:.0f}" for v in shares))
    console.print(activity)


@click.command()
@config_option
@agents_option
@click.option("--days", type=click.IntRange(min=1), default=3, show_default=True,
              help="Simulated days to run (each of world.ticks_per_day ticks).")
@seed_option()
@click.option("--json", "as_json", is_flag=True,
              help="Print the run summary with its per-day figures as one JSON object.")
def report_command(config_path, agents, days, seed, as_json) -> None:
    """Run a town without console or publisher and report it day by day: needs,
    deaths, faints, exits, money per agent, prices, rival and friend ties, activity
    by hour and synchrony (see docs/world.md, "Town reports")."""
    import msgspec
    from rich.console import Console

    from townlet.sim.cli import EXIT_INTERRUPTED, _load, _run_with_progress
    from townlet.sim.loop import Simulation

    cfg = _load(config_path, agents, {})
    screen = Console(stderr=True)
    sim = Simulation(cfg, seed)
    try:
        summary = _run_with_progress(sim, days * cfg.world.ticks_per_day, screen, None,
                                     show_bar=True)
    finally:
        sim.close()
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(summary)))
    else:
        print_days(summary.days, Console())
    if summary.interrupted:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
