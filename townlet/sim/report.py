"""``townlet report``: run a town headless for some days and show its per-day figures
(townlet.sim.days) as tables, or as JSON for scripts."""

from __future__ import annotations

import json
import sys

import click

from townlet.config.options import agents_option, config_option, seed_option

__all__ = ["print_days", "report_command"]


_DAYS_SHOWN = 6  # day columns that fit an 80-column terminal; --json has every day


def _day_rows(d) -> list[tuple[str, str]]:
    """One day's figures as (label, text) rows, in the order the table shows them."""
    rows = [("population", f"{d.population:,}"), ("deaths", str(d.deaths)),
            ("faints", str(d.faints)), ("exits", str(d.exits)),
            ("money/agent", f"{d.money_per_capita:,.2f}")]
    rows += [(f"need {name}", f"{v:.2f}") for name, v in d.mean_needs.items()]
    rows += [("collapses (exhausted)", str(d.collapses)), ("became unkempt", str(d.unkempt)),
             ("soured chats", str(d.soured_chats)), ("became lonely", str(d.lonely)),
             ("work ticks in low mood", f"{d.low_mood_ticks:,}")]
    rows += [(f"price {name}", f"{v:.2f}") for name, v in d.prices.items()]
    for kind, shop in d.shops.items():
        rows += [(f"{kind} price (min-max)",
                  f"{shop.price_mean:.2f} ({shop.price_min:.2f}-{shop.price_max:.2f})"),
                 (f"{kind} stock", f"{shop.stock:.0%}"), (f"{kind}s sold out", str(shop.empty))]
    rows.append(("sell-outs", str(d.sold_out)))
    rows += [("rival ties", f"{d.rival_ties:,}"), ("agents with a rival", f"{d.rival_share:.1%}"),
             ("friend ties", f"{d.friend_ties:,}"),
             ("agents with a friend", f"{d.friend_share:.1%}"),
             ("max goal change/tick", f"{d.max_goal_change:.1%}"),
             ("sleep onsets", f"{d.sleep_onsets:,}"),
             ("busiest sleep hour", f"{d.peak_sleep_hour_share:.0%}")]
    return rows


def print_days(days, console) -> None:
    """The per-day figures (a column per day, the last few days), then the activity by
    hour averaged over all days (a row per hour, a column per goal)."""
    from rich.table import Table

    if not days:
        return
    shown = days[-_DAYS_SHOWN:]
    note = "" if len(shown) == len(days) else f" (last {len(shown)} of {len(days)}; --json has all)"
    table = Table(title=f"Town by day{note}")
    table.add_column("figure")
    for d in shown:
        table.add_column(f"day {d.day}", justify="right")
    columns = [_day_rows(d) for d in shown]
    for i, (label, _) in enumerate(columns[0]):
        table.add_row(label, *(col[i][1] for col in columns))
    console.print(table)

    hours = len(next(iter(days[0].activity.values())))
    mean = {goal: [sum(d.activity[goal][h] for d in days) / len(days) for h in range(hours)]
            for goal in days[0].activity}
    goals = [goal for goal, shares in mean.items() if any(shares)]
    activity = Table(title=f"Activity by hour: % of agents per goal (mean of {len(days)} day(s))")
    activity.add_column("hour")
    for goal in goals:
        activity.add_column(goal, justify="right")
    for h in range(hours):
        activity.add_row(f"{h:02d}", *(f"{100 * mean[goal][h]:.0f}" for goal in goals))
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
    """Run a town without console or publisher and report it day by day: needs and
    their neglect (collapses, unkempt, lonely), deaths, faints, exits, money per agent, prices, rival and friend ties, activity
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
