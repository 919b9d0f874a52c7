"""The evaluation suites: fixed, versioned scenarios a candidate policy is judged on.

A scenario fixes the seed, the town size, the length, a perturbation schedule, the
share of agent slots the evaluated policy controls (the focal agents, chosen by a
seeded draw) and who drives everyone else (the background: the scripted policy, or
the current release, i.e. an earlier promoted policy). Changing any scenario of a
suite changes what its numbers mean, so it bumps the suite's ``version``; results
and promotion verdicts record the version they were measured with.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from townlet.config.pilot import Alert
from townlet.config.world import PerturbationKind

__all__ = ["SUITES", "Perturbation", "Scenario", "Suite"]


class Perturbation(msgspec.Struct, frozen=True, kw_only=True):
    tick: Annotated[int, Meta(ge=0)]
    """World tick it starts at."""
    kind: PerturbationKind
    duration: Annotated[int, Meta(ge=1)]
    magnitude: float | None = None
    """Price multiplier of a ``price_spike`` (None: the kind's default)."""


class Scenario(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    seed: Annotated[int, Meta(ge=0)]
    agents: Annotated[int, Meta(ge=1)]
    ticks: Annotated[int, Meta(ge=1)]
    focal: Annotated[float, Meta(gt=0.0, le=1.0)]
    """Share of agent slots the evaluated policy controls."""
    background: Literal["scripted", "release"] = "scripted"
    """Who drives the other slots (``release`` falls back to scripted without one)."""
    perturbations: tuple[Perturbation, ...] = ()
    allowed_alerts: tuple[Alert, ...] = ()
    """Alerts the perturbations cause in any town (the scripted one included), which do not
    fail this scenario's windows (added to ``pilot.promotion.allowed_alerts``)."""


class Suite(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: int
    scenarios: tuple[Scenario, ...]


_DAY = 1440
SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite(name="default", version=1, scenarios=(
        Scenario(name="ordinary_days", seed=101, agents=200, ticks=2 * _DAY, focal=0.5),
        Scenario(name="power_outage", seed=102, agents=200, ticks=2 * _DAY, focal=0.5,
                 perturbations=(Perturbation(tick=600, kind="blackout", duration=240),)),
        Scenario(name="water_outage", seed=103, agents=200, ticks=2 * _DAY, focal=0.5,
                 perturbations=(Perturbation(tick=420, kind="outage", duration=300),),
                 allowed_alerts=("affordance_failures_exceeded",)),  # showers fail
        Scenario(name="price_spike", seed=104, agents=300, ticks=2 * _DAY, focal=0.5,
                 perturbations=(Perturbation(tick=300, kind="price_spike", duration=720,
                                             magnitude=2.5),)),
        Scenario(name="among_the_release", seed=105, agents=400, ticks=2 * _DAY, focal=0.25,
                 background="release"),
    )),
    Suite(name="smoke", version=1, scenarios=(
        Scenario(name="tiny_town", seed=7, agents=40, ticks=240, focal=0.5,
                 perturbations=(Perturbation(tick=60, kind="blackout", duration=30),)),
    )),
)}
"""Every suite by name: ``default`` (about 2 days each in towns of 200-400 agents) and
``smoke`` (one tiny scenario, for tests and quick checks)."""
