"""Survival and economy of a scripted town (issue 18 targets), measured from the World
API: deaths per day (share of agents), starvation deaths of agents that held enough
money for a meal, faints, exits, dropped events, money per capita and its day-to-day
drift, and the shops' prices, stock and sell-outs at the end of each day.

Run: ``python -m benchmarks.town_survival --agents 1000 --days 30 --seeds 0,1,2,3,4``
(or ``--agents 1000000 --days 3 --seeds 0``; one JSON object per seed on stdout). Not part
of the test suite: 1M agents x 3 days is ~4.3e9 agent-steps, minutes of CPU."""

from __future__ import annotations

import argparse
import json
import time

import msgspec

from townlet.config import default_config, with_agents
from townlet.sim.days import DayRecorder
from townlet.world import World
from townlet.world.events import EventCode, Reason
from townlet.world.state import STAT, Price

__all__ = ["measure"]


def measure(world: World, days: int, drift_from: int = 5) -> dict:
    """Step ``world`` scripted for ``days`` days and gather the survival figures; money
    drift is the largest relative day-to-day change of money per capita from day
    ``drift_from`` (1-based, as in issue 18) on."""
    day = world.config.world.ticks_per_day
    wallet, food = world.view("agent_wallet"), world.view("agent_food")
    prev_wallet = wallet.copy()
    prev_food = food.copy()
    recorder = DayRecorder(world)
    cheapest_meal = min(int(world.view("price_now")[Price.CAFE_MEAL]),
                        int(world.view("price_now")[Price.GROCERIES]))
    funded_deaths = 0
    dropped0 = int(world.view("stats")[STAT.index("events_dropped")])
    started = time.perf_counter()
    for _ in range(days * day):
        world.step()
        recorder.add(world)
        ev = world.events()
        dead = ev["agent"][(ev["code"] == EventCode.AGENT_DIED)
                           & (ev["value"] == Reason.STARVATION)]
        if dead.size:
            funded_deaths += int(((prev_wallet[dead] >= cheapest_meal)
                                  | (prev_food[dead] > 0)).sum())
        prev_wallet[:] = wallet
        prev_food[:] = food
    seconds = time.perf_counter() - started
    figures = recorder.finish(world)
    n = world.n_agents
    money = [d.money_per_capita for d in figures]
    drift = [abs(b - a) / a for a, b in zip(money[drift_from - 1:], money[drift_from:]) if a]
    return {
        "agents": n, "days": days, "seed": world.seed,
        "deaths": sum(d.deaths for d in figures),
        "max_daily_death_share": max(d.deaths / n for d in figures),
        "funded_starvation_deaths": funded_deaths,
        "faints": sum(d.faints for d in figures),
        "exits": sum(d.exits for d in figures),
        "events_dropped": int(world.view("stats")[STAT.index("events_dropped")]) - dropped0,
        "max_money_drift_per_day": round(max(drift, default=0.0), 5),
        "per_day": [{"day": d.day + 1, "deaths": d.deaths, "faints": d.faints,
                     "exits": d.exits, "money_per_capita": d.money_per_capita,
                     "prices": d.prices, "shops": msgspec.to_builtins(d.shops),
                     "sold_out": d.sold_out} for d in figures],
        "agent_steps_per_s": round(n * days * day / seconds),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seeds", default="0")
    args = ap.parse_args()
    for seed in (int(x) for x in args.seeds.split(",")):
        world = World(with_agents(default_config(), args.agents), seed=seed)
        print(json.dumps(measure(world, args.days)), flush=True)


if __name__ == "__main__":
    main()
