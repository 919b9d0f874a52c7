"""Click options shared by every command that builds a town, defined once so that
``run``, ``report`` and ``snapshot save/load`` spell and explain them alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = ["agents_option", "config_option", "seed_option"]

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), envvar="TOWNLET_CONFIG",
    help="YAML config (env TOWNLET_CONFIG; default: the embedded default town).")

agents_option = click.option(
    "--agents", type=int, help="Scale the town to this many agents (adds districts as needed).")


def seed_option(note: str = "") -> Callable[[Any], Any]:
    """``--seed`` for a fresh town; ``note`` adds what the command does with it."""
    text = "Seed of the town and every random draw (same config + seed, same run)."
    return click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                        help=f"{text} {note}".strip())
