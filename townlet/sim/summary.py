"""What a run reports at the end: population, deaths, needs, money, events."""

from __future__ import annotations

import numpy as np
from msgspec import Struct

from townlet.config.money import to_units
from townlet.sim.days import DayFigures
from townlet.world import World
from townlet.world.events import EventCode
from townlet.world.state import NEEDS, STAT, expected_money

__all__ = ["EventTally", "RunSummary", "summarize"]


class EventTally:
    """Counts events by code over a run (one bincount per tick, no Python per event)."""

    def __init__(self) -> None:
        self.counts = np.zeros(max(EventCode) + 1, dtype=np.int64)

    def add(self, world: World) -> None:
        n = int(world.view("evt_len")[0])
        if n:
            self.counts += np.bincount(world.view("evt_code")[:n], minlength=self.counts.size)

    def as_dict(self) -> dict[str, int]:
        return {EventCode(c).name.lower(): int(v) for c, v in enumerate(self.counts) if v}


class RunSummary(Struct, frozen=True):
    """The end-of-run report (also the ``--json`` output)."""

    config_id: str
    seed: int
    ticks: int
    agents: int
    population: int
    seconds: float
    ticks_per_s: float
    agent_steps_per_s: float
    deaths: int
    faints: int
    exits: int
    mean_needs: dict[str, float]
    critical_share: float
    money_in_circulation: float
    money_conserved: bool
    events: dict[str, int]
    state_hash: str
    interrupted: bool = False
    days: list[DayFigures] = []
    """Per-day figures (townlet.sim.days), in day order."""


def summarize(world: World, tally: EventTally, ticks: int, seconds: float, rate: float,
              interrupted: bool, days: list[DayFigures] | None = None) -> RunSummary:
    """The report of a run of ``ticks`` ticks in ``seconds``; ``rate`` is ticks/s after
    the first tick (which includes loading the compiled kernel)."""
    alive = world.view("agent_alive").astype(bool)
    needs = world.view("agent_needs")[alive]
    stats = dict(zip(STAT, world.view("stats").tolist()))
    wallets = int(world.view("agent_wallet")[alive].sum())  # minor units: exact
    return RunSummary(
        config_id=world.config_id, seed=world.seed, ticks=ticks, agents=world.n_agents,
        population=int(alive.sum()), seconds=round(seconds, 4), ticks_per_s=round(rate, 2),
        agent_steps_per_s=round(rate * world.n_agents, 1), deaths=stats["deaths"],
        faints=stats["faints"], exits=stats["exits"],
        mean_needs={n: round(float(v), 4) for n, v in zip(NEEDS, needs.mean(axis=0))}
        if needs.size else {n: 0.0 for n in NEEDS},
        critical_share=round(stats["critical_ticks"] / max(1, stats["agent_ticks"]), 5),
        money_in_circulation=to_units(wallets),
        money_conserved=wallets == expected_money(world.view("ledger")),
        events=tally.as_dict(), state_hash=world.state_hash(), interrupted=interrupted,
        days=days or [])
