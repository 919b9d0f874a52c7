"""A town where life works: nobody starves, shifts recur daily, money is conserved;
lifecycle rules (fainting, death, respawn with a starter kit, exits)."""

from __future__ import annotations

import numpy as np

from tests.worlds import actions_for, small_world
from townlet.world.actions import Action
from townlet.world.events import EventCode
from townlet.world.state import STAT, Today, expected_money

DAY = 1440


def _money_gap(w) -> float:
    alive = w.view("agent_alive").astype(bool)
    return abs(float(w.view("agent_wallet")[alive].sum()) - expected_money(w.view("ledger")))


def test_default_town_is_sustainable():
    w = small_world(agents=500, seed=1)
    shifts_by_day, scheduled = [], []
    deaths = 0
    for day in range(4):
        scheduled.append(int(w.view("agent_today")[:, Today.WORKS].sum()))  # days off vary
        before = int(w.view("stats")[STAT.index("shifts_worked")])
        for _ in range(DAY):
            w.step()
            deaths += int((w.events()["code"] == EventCode.AGENT_DIED).sum())
        shifts_by_day.append(int(w.view("stats")[STAT.index("shifts_worked")]) - before)
        assert _money_gap(w) < 1e-6 * max(1.0, float(w.view("ledger")[1]))
    stats = dict(zip(STAT, w.view("stats").tolist()))
    assert deaths == 0 and stats["deaths"] == 0, "no starvation deaths"
    assert stats["critical_ticks"] / stats["agent_ticks"] <= 0.05
    assert all(n >= 0.9 * k for n, k in zip(shifts_by_day, scheduled)), (
        f"shifts recur every day: {shifts_by_day} of {scheduled}")
    assert min(scheduled) >= 0.75 * 500, "days off are spread over the week"
    assert stats["completed"] > 500 * 4 * 4


def test_starving_agent_faints_dies_and_a_newcomer_arrives_with_a_starter_kit():
    w = small_world(agents=8, seed=5)
    life = w.config.world.lifecycle
    w.possess(3)
    w.set_need(3, "hunger", 0.0)
    gen = int(w.view("agent_gen")[3])
    codes = []
    for _ in range(life.death_after_ticks + life.respawn_delay_ticks + 5):
        w.step()
        codes += [int(c) for c, a in zip(w.events()["code"], w.events()["agent"]) if a == 3]
    assert EventCode.AGENT_FAINTED in codes
    assert EventCode.AGENT_DIED in codes and EventCode.AGENT_RESPAWN in codes
    assert codes.index(EventCode.AGENT_DIED) < codes.index(EventCode.AGENT_RESPAWN)
    assert int(w.view("agent_gen")[3]) == gen + 1 and w.view("agent_alive")[3]
    assert int(w.view("agent_food")[3]) == life.starter_food
    assert np.allclose(w.view("agent_needs")[3, :3], life.starter_need, atol=0.02)
    assert not w.view("agent_flags")[3] & 1, "the newcomer is not possessed"
    assert _money_gap(w) < 1e-9


def test_chronic_absentees_leave_through_the_capped_exit_queue():
    w = small_world(agents=30, seed=6, employment__max_absent_shifts=1,
                    employment__daily_exit_cap=2)
    stay_home = actions_for(w, Action.WAIT)
    exits_per_day = np.zeros(4, dtype=int)
    for _ in range(3 * DAY):
        w.step(stay_home)
        exits = int((w.events()["code"] == EventCode.EXIT_PROCESSED).sum())
        exits_per_day[w.tick // DAY] += exits
    assert exits_per_day.sum() >= 2, "absentees do leave"
    assert exits_per_day.max() <= 2, f"daily exit cap: {exits_per_day}"
