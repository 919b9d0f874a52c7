"""The rhythm of a scripted town (issue 18 targets): synchrony of goal changes,
sleep onsets and shift starts, day-to-day variety of routines, on-time shift
starts per job, and deaths — measured from the World API, tick by tick.

Run: ``python -m benchmarks.town_rhythm --agents 1000 --days 8 --seed 1``
(prints one JSON object; the invariant tests in tests/test_world_routines.py
assert the same figures)."""

from __future__ import annotations

import argparse
import json

import numpy as np

from townlet.config import default_config, with_agents
from townlet.world import World
from townlet.world.actions import Shift
from townlet.world.events import EventCode
from townlet.world.state import STAT
from townlet.world.town import OBJ

__all__ = ["measure"]


def measure(world: World, days: int, skip_days: int = 1) -> dict:
    """Step ``world`` for ``days`` days (scripted) and measure its rhythm over the
    days after the first ``skip_days`` (the town settles from its uniform start)."""
    day = world.config.world.ticks_per_day
    hour = max(1, day // 24)
    bed = int(world.params.type_aff[OBJ.BED])
    jobs = [j.name for j in world.config.world.jobs]
    goal, aff = world.view("agent_goal"), world.view("agent_aff")
    shift, alive = world.view("agent_shift"), world.view("agent_alive")
    job = world.view("agent_job")
    n = world.n_agents
    max_goal_share = 0.0
    onsets_by_hour = np.zeros(24, dtype=np.int64)
    max_start_share = 0.0
    scheduled = np.zeros(len(jobs), dtype=np.int64)  # shifts called, per job
    punctual = np.zeros(len(jobs), dtype=np.int64)  # shifts started on time, per job
    schedule = np.zeros((2, n, 24), dtype=np.int8)  # goals at each hour mark, today and yesterday
    differ = comparable = 0
    deaths_before = int(world.view("stats")[STAT.index("deaths")])
    prev_goal, prev_aff, prev_shift = goal.copy(), aff.copy(), shift.copy()
    starts_today = np.zeros(day, dtype=np.int64)
    for _ in range(days * day):
        world.step()
        t = world.tick
        d, tod = divmod(t, day)
        measured = d >= skip_days
        living = alive.astype(bool)
        if measured:
            changed = int(((goal != prev_goal) & living).sum())
            max_goal_share = max(max_goal_share, changed / max(1, int(living.sum())))
            onsets = int(((aff == bed) & (prev_aff != bed) & living).sum())
            onsets_by_hour[min(23, tod // hour)] += onsets
            began = living & (prev_shift != shift)
            on_time = began & (shift == Shift.ON_TIME)
            ev = world.events()
            late = ev["agent"][ev["code"] == EventCode.SHIFT_LATE_START]
            starts_today[tod] += int(on_time.sum()) + late.size
            np.add.at(scheduled, job[began & (shift == Shift.AWAIT_START)], 1)
            np.add.at(punctual, job[on_time], 1)
        if tod % hour == hour // 2:
            schedule[d % 2, :, tod // hour] = goal
        if tod == 0:
            if measured and starts_today.sum():
                max_start_share = max(max_start_share, starts_today.max() / starts_today.sum())
            starts_today[:] = 0
            if d >= skip_days + 1:  # compare yesterday with the day before
                same = (schedule[0] == schedule[1]).all(axis=1)
                differ += int((~same & living).sum())
                comparable += int(living.sum())
        prev_goal[:], prev_aff[:], prev_shift[:] = goal, aff, shift
    on_time = {name: round(float(punctual[j] / max(1, scheduled[j])), 4)
               for j, name in enumerate(jobs)}
    return {
        "agents": n, "days": days, "skip_days": skip_days,
        "max_goal_change_share": round(max_goal_share, 4),
        "busiest_hour_sleep_onset_share": round(float(onsets_by_hour.max() / max(
            1, onsets_by_hour.sum())), 4),
        "sleep_onsets_by_hour": onsets_by_hour.tolist(),
        "busiest_tick_shift_start_share": round(float(max_start_share), 4),
        "schedules_differing_from_previous_day": round(differ / max(1, comparable), 4),
        "on_time_share_by_job": on_time,
        "deaths": int(world.view("stats")[STAT.index("deaths")]) - deaths_before,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-days", type=int, default=1)
    args = ap.parse_args()
    world = World(with_agents(default_config(), args.agents), seed=args.seed)
    print(json.dumps({"seed": args.seed, **measure(world, args.days, args.skip_days)}))


if __name__ == "__main__":
    main()
