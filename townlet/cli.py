"""The ``townlet`` command: one click group; each sub-command lives beside the
package it drives and imports its heavy dependencies only when it runs."""

from __future__ import annotations

import click

from townlet.client.cli import subscribe_command
from townlet.config.cli import config_command
from townlet.console.cli import console_command
from townlet.front.cli import front_command
from townlet.ops.logging import configure_logging, set_log_context
from townlet.pilot.cli import eval_command, promote_command, run_command
from townlet.publish.cli import publish_command
from townlet.record.cli import record_command, replay_command
from townlet.scale.cli import sweep_command
from townlet.security.cli import keys_command
from townlet.sim.bench import bench_command
from townlet.sim.report import report_command
from townlet.snapshots.cli import snapshot_command
from townlet.train.cli import train_command
from townlet.ui.cli import dashboard_command

ROLES = {"run": "simulation", "publish": "publisher", "record": "recorder", "replay": "replay",
         "console-front": "console"}
"""The ``role`` in the logs of a process started by a sub-command (default: its name)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="townlet")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Townlet: a town simulation for multi-agent research."""
    configure_logging()
    name = ctx.invoked_subcommand or "townlet"
    set_log_context(role=ROLES.get(name, name))


main.add_command(run_command, "run")
main.add_command(report_command, "report")
main.add_command(bench_command, "bench")
main.add_command(config_command, "config")
main.add_command(keys_command, "keys")
main.add_command(console_command, "console")
main.add_command(front_command, "console-front")
main.add_command(publish_command, "publish")
main.add_command(subscribe_command, "subscribe")
main.add_command(snapshot_command, "snapshot")
main.add_command(record_command, "record")
main.add_command(replay_command, "replay")
main.add_command(sweep_command, "sweep")
main.add_command(dashboard_command, "dashboard")
main.add_command(eval_command, "eval")
main.add_command(promote_command, "promote")
main.add_command(train_command, "train")
