"""Run one town of a sweep to the end and reduce it to one results row.

This is plain Python with no Ray in it: the sweep ships it to workers as a task, and
tests and ``--ray-address none`` call it directly, so a town run by the sweep and the
same town run serially go through the same code."""

from __future__ import annotations

import os
import socket

from msgspec import Struct

from townlet.scale.spec import TownJob

__all__ = ["TownResult", "run_town"]


class TownResult(Struct, frozen=True):
    """One row of the results table (flat, so it fits CSV and Parquet)."""

    key: str
    variant: str
    seed: int
    agents: int
    ticks: int
    config_id: str
    population: int
    deaths: int
    faints: int
    exits: int
    critical_share: float
    mean_needs: dict[str, float]
    """Mean of each need over the living at the end (one ``need_<name>`` column each)."""
    money_per_capita: float
    money_conserved: bool
    rival_share: float
    """Share of living agents with a rivalry tie at or above the avoid threshold (last day)."""
    friend_share: float
    """Share of living agents with a friendship tie (last day)."""
    seconds: float
    agent_steps_per_s: float
    state_hash: str
    endpoint: str
    """The town's publisher endpoint ('' when the sweep does not publish)."""
    host: str
    pid: int


def run_town(job: TownJob) -> TownResult:
    """Run ``job`` for its ticks (with its publisher if the config enables telemetry)."""
    from townlet.sim.loop import Simulation

    cfg = job.config
    sim = Simulation(cfg, job.seed)
    try:
        if cfg.telemetry.enabled:
            from townlet.sim.services import start_services

            start_services(sim, cfg, console=False, publish=True)
        summary = sim.run(job.ticks)
    finally:
        sim.close()
    last = summary.days[-1] if summary.days else None
    return TownResult(
        key=job.key, variant=job.variant, seed=job.seed, agents=summary.agents,
        ticks=summary.ticks, config_id=summary.config_id, population=summary.population,
        deaths=summary.deaths, faints=summary.faints, exits=summary.exits,
        critical_share=summary.critical_share, mean_needs=summary.mean_needs,
        money_per_capita=round(summary.money_in_circulation / max(1, summary.population), 4),
        money_conserved=summary.money_conserved,
        rival_share=last.rival_share if last else 0.0,
        friend_share=last.friend_share if last else 0.0, seconds=summary.seconds,
        agent_steps_per_s=summary.agent_steps_per_s, state_hash=summary.state_hash,
        endpoint=cfg.telemetry.endpoint if cfg.telemetry.enabled else "",
        host=socket.gethostname(), pid=os.getpid())
