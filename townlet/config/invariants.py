"""Cross-field checks that make the default town livable: each names the
invariant it enforces (see SPEC/world.md §6.6 and issue [A2]).

``district_plan`` is the one place that decides how a district is built, so the
supply check and the town generator agree.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

from townlet.config.preconds import PrecondError, parse_preconds
from townlet.config.world import BODILY_NEEDS, NEEDS, PRICES, TownConfig, WorldConfig

if TYPE_CHECKING:
    from townlet.config.root import TownletConfig

__all__ = ["WEEK", "DistrictPlan", "check_invariants", "district_plan"]

HOOKS = ("shared_meal", "shower_complete", "sleep_complete")
FEASIBLE_SHARE = 0.8
"""Share of a day that needs upkeep plus work may occupy."""
WAGE_MARGIN = 1.1
"""Daily wage must exceed the daily basket by this factor."""
WEEK = 7
"""Days in a week (days off recur weekly)."""


class DistrictPlan(NamedTuple):
    """How many blocks of each kind a district has (grocer and cafe: one each)."""

    blocks: int
    offices: int
    homes: int
    residents: int


def district_plan(town: TownConfig) -> DistrictPlan:
    """Fewest offices such that every resident of the district has a job in it."""
    blocks = town.district_side ** 2
    for offices in range(blocks - 2):
        homes = blocks - 2 - offices
        residents = homes * town.residents_per_home
        if residents <= 2 * town.shop_staff + offices * town.workers_per_office:
            return DistrictPlan(blocks, offices, homes, residents)
    raise ValueError("district too small to employ its residents")


def _fail(origin: str, invariant: str, detail: str) -> None:
    from townlet.config.loader import ConfigError

    raise ConfigError(f"{origin}: invariant {invariant!r} violated: {detail}")


def _check_affordances(world: WorldConfig, origin: str) -> None:
    seen: set[str] = set()
    types: set[str] = set()
    for i, aff in enumerate(world.affordances):
        where = f"world.affordances[{i}] ({aff.id})"
        if aff.id in seen:
            _fail(origin, "unique_affordance_ids", f"{where}: duplicate id")
        if aff.object_type in types:
            _fail(origin, "one_affordance_per_object_type", f"{where}: object type "
                  f"{aff.object_type!r} already has an affordance")
        seen.add(aff.id)
        types.add(aff.object_type)
        for key in aff.effects:
            if key not in NEEDS + ("food",):
                _fail(origin, "known_effects", f"{where}: unknown effect {key!r} "
                      f"(known: {', '.join(NEEDS + ('food',))})")
        for stage, names in aff.hooks.items():
            if names and stage != "after":
                _fail(origin, "known_hooks", f"{where}.hooks.{stage}: the built-in hooks run at "
                      f"completion; list them under 'after' (payments and refunds at start and "
                      f"on failure are automatic)")
            for name in names:
                if name not in HOOKS:
                    _fail(origin, "known_hooks", f"{where}.hooks.{stage}: unknown hook {name!r} "
                          f"(known: {', '.join(HOOKS)})")
        for k, text in enumerate(aff.preconds):
            try:
                parse_preconds([text])
            except PrecondError as exc:
                _fail(origin, "valid_preconds",
                      f"world.affordances[{i}].preconds[{k}] ({aff.id}): {exc}")


def _best(world: WorldConfig, need: str):
    """The affordance restoring most of ``need`` per use, or None."""
    options = [a for a in world.affordances if a.effects.get(need, 0.0) > 0]
    return max(options, key=lambda a: a.effects[need], default=None)


def check_invariants(cfg: TownletConfig, origin: str) -> None:
    """Raise ConfigError naming the first violated invariant."""
    world = cfg.world
    day = world.ticks_per_day
    _check_affordances(world, origin)
    for i, job in enumerate(world.jobs):
        last_end = job.end + (job.patterns - 1) * job.stagger_ticks
        if not job.start < job.end <= last_end <= day:
            _fail(origin, "shift_within_day", f"world.jobs[{i}] ({job.name}): need "
                  f"start < end and end + (patterns - 1) * stagger_ticks <= ticks_per_day "
                  f"({day}), got {job.start}..{last_end}")
    if not world.jobs:
        _fail(origin, "jobs_exist", "world.jobs is empty: nobody could earn money")
    busy = max(job.end - job.start for job in world.jobs)
    basket = 0.0
    prices = dict(zip(PRICES, world.economy.price_table()))
    dearest = world.economy.markup_bounds[1]  # shops may charge up to this x the town price
    food_price = dearest * world.economy.groceries / max(1.0, _food_per_purchase(world))
    for need in BODILY_NEEDS:
        aff = _best(world, need)
        if aff is None:
            _fail(origin, "needs_restorable", f"no affordance restores {need}")
        uses = getattr(world.needs, need).decay * day / aff.effects[need]
        busy += uses * aff.duration
        price = prices[aff.price] * (dearest if aff.uses_stock else 1.0)  # sold by a shop
        basket += uses * (price + aff.uses_food * food_price)
    if busy > FEASIBLE_SHARE * day:
        _fail(origin, "daily_needs_fit_in_a_day", f"upkeep plus the longest shift takes "
              f"{busy:.0f} ticks, more than {FEASIBLE_SHARE:.0%} of a {day}-tick day")
    workdays = (WEEK - world.employment.days_off) / WEEK
    for i, job in enumerate(world.jobs):
        wage = job.wage * (job.end - job.start) * workdays
        if wage < WAGE_MARGIN * basket:
            _fail(origin, "wages_cover_the_basket", f"world.jobs[{i}] ({job.name}) pays "
                  f"{wage:.3f}/day averaged over a week with days off, less than {WAGE_MARGIN} x the daily basket {basket:.3f}")
    plan = district_plan(world.town)
    hunger = _best(world, "hunger")
    food_per_day = plan.residents * world.needs.hunger.decay * day / hunger.effects["hunger"]
    if hunger.uses_food and world.economy.grocer_stock < math.ceil(food_per_day):
        _fail(origin, "supply_covers_demand", f"a district's {plan.residents} residents eat "
              f"{food_per_day:.0f} food/day but its grocer gets {world.economy.grocer_stock}")
    tel = cfg.telemetry
    if tel.restart_backoff_max_seconds < tel.restart_backoff_seconds:
        _fail(origin, "restart_backoff_ordered", "telemetry.restart_backoff_max_seconds "
              f"({tel.restart_backoff_max_seconds}) is below restart_backoff_seconds "
              f"({tel.restart_backoff_seconds})")


def _food_per_purchase(world: WorldConfig) -> float:
    return max((a.effects.get("food", 0.0) for a in world.affordances), default=0.0)
