"""``townlet console-front``: the console's public side (spawned and supervised by
``townlet run``; not meant to be started by hand).

The run directory (0700) holds the simulation's link socket, its per-tick summary and
``console.json`` (the run's ``console:`` settings, so both processes read one definition).
Prints one JSON line to stdout when ready (``{"event": "ready", "endpoint": ...}``); logs go
to stderr. Exits 0 on SIGTERM or once the simulation is gone; ignores SIGINT.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from townlet.config.paths import KEYS_DIR

__all__ = ["front_command"]



@click.command("console-front", hidden=True)
@click.option("--run-dir", required=True, type=click.Path(file_okay=False, exists=True),
              help="The simulation's owner-only run directory (link, summary, settings).")
@click.option("--parent-pid", required=True, type=int,
              help="The simulation's pid: the front exits when it is gone.")
@click.option("--key-dir", default=KEYS_DIR, show_default=True, type=click.Path(file_okay=False),
              help="Key directory: server.key_secret, registry.json.")
@click.option("--endpoint", default=None, help="Overrides console.endpoint.")
@click.option("--snapshot-root", default=None, type=click.Path(file_okay=False),
              help="Directory file commands are confined to.")
@click.option("--restarts", default=0, type=click.IntRange(0),
              help="Fronts the simulation started before this one.")
def front_command(run_dir: str, parent_pid: int, key_dir: str, endpoint: str | None,
                  snapshot_root: str | None, restarts: int) -> None:
    """Serve the operator console for the simulation whose run directory is RUN_DIR."""
    from townlet.front.process import FrontError, serve

    # Ctrl-C in a terminal reaches the whole process group: the simulation decides when
    # its front stops (SIGTERM from its supervisor), so that the last replies are audited.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        serve(Path(run_dir), parent_pid, Path(key_dir), endpoint=endpoint,
              snapshot_root=snapshot_root, restarts=restarts,
              ready=lambda info: (sys.stdout.write(json.dumps(info) + "\n"),
                                  sys.stdout.flush()),
              on_term=lambda stop: signal.signal(signal.SIGTERM, lambda *_: stop()))
    except FrontError as exc:
        raise click.ClickException(str(exc)) from None
