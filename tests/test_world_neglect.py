"""Needs with consequences (issue 18): a need left at 0 for long changes the world. An
exhausted agent falls asleep where it stands, an unkempt one is shunned and its chats
cost its partners trust, a lonely worker's low mood cuts its wage; each is an event and a
counter, and a sleeper at energy 0 is resting, not collapsing."""

from __future__ import annotations

import numpy as np

from tests.worlds import actions_for, home_object, small_world, stand_at
from townlet.world import World
from townlet.world.actions import Action, Flag, Shift
from townlet.world.events import EventCode, Reason
from townlet.world.geometry import TILE
from townlet.world.state import STAT, Need
from townlet.world.town import OBJ


def _stat(world: World, name: str) -> int:
    return int(world.view("stats")[STAT.index(name)])


def _codes(world: World, agent: int) -> list[int]:
    ev = world.events()
    return [int(c) for c in ev["code"][(ev["agent"] == agent) | (ev["other"] == agent)]]


def _quiet_pair(world: World, a: int, b: int) -> None:
    """Put agents a and b on adjacent street tiles with nobody else within reach."""
    kinds, xs, ys = world.view("tile_kind"), world.view("agent_x"), world.view("agent_y")
    for y, x in np.argwhere(kinds == TILE.STREET):
        if x + 1 < kinds.shape[1] and kinds[y, x + 1] == TILE.STREET and (
                np.maximum(abs(xs - x), abs(ys - y)) > 4).all():
            world.teleport(a, int(x), int(y))
            world.teleport(b, int(x) + 1, int(y))
            return
    raise AssertionError("no quiet street tile")


def test_an_exhausted_agent_falls_asleep_where_it_stands_and_wakes_rested():
    w = small_world(agents=12, seed=3)
    neg = w.config.world.neglect
    agent = 4
    shower = home_object(w, agent, OBJ.SHOWER)
    stand_at(w, agent, shower)
    w.possess(agent)
    w.set_need(agent, "energy", 0.0)
    for _ in range(neg.exhausted_after - 5):  # awake at energy 0, not yet for long
        w.step()
        assert EventCode.AGENT_COLLAPSED not in _codes(w, agent)
    wallet = int(w.view("agent_wallet")[agent])
    w.set_possessed_action(agent, Action.INTERACT)  # starts a shower it will not finish
    w.step()
    assert w.view("agent_aff")[agent] == w.params.type_aff[OBJ.SHOWER]
    codes: list[int] = []
    for _ in range(5):
        w.step()
        codes += _codes(w, agent)
    assert EventCode.AGENT_COLLAPSED in codes and EventCode.NEED_NEGLECTED in codes
    assert EventCode.AFFORDANCE_FAIL in codes and int(w.view("agent_wallet")[agent]) == wallet
    assert w.view("agent_aff")[agent] == -1 and w.view("agent_flags")[agent] & Flag.FAINTED
    assert _stat(w, "collapses") == 1
    where = (int(w.view("agent_x")[agent]), int(w.view("agent_y")[agent]))
    for _ in range(neg.collapse_ticks - 1):  # asleep on the spot: moving does nothing
        w.set_possessed_action(agent, Action.MOVE_S)
        w.step()
        assert (int(w.view("agent_x")[agent]), int(w.view("agent_y")[agent])) == where
    w.step()
    assert not w.view("agent_flags")[agent] & Flag.FAINTED
    assert w.view("agent_needs")[agent, Need.ENERGY] >= neg.collapse_energy - 0.001
    assert w.view("agent_neglect")[agent, Need.ENERGY] == 0


def test_the_failed_affordance_names_exhaustion():
    w = small_world(agents=12, seed=3, neglect__exhausted_after=3)
    agent = 4
    stand_at(w, agent, home_object(w, agent, OBJ.SHOWER))
    w.possess(agent)
    w.set_possessed_action(agent, Action.INTERACT)
    w.step()
    w.set_need(agent, "energy", 0.0)
    reasons = []
    for _ in range(4):
        w.step()
        ev = w.events()
        reasons += list(ev["value"][(ev["code"] == EventCode.AFFORDANCE_FAIL)
                                    & (ev["agent"] == agent)])
    assert reasons == [Reason.EXHAUSTED]


def test_a_sleeper_at_energy_zero_rests_instead_of_collapsing():
    w = small_world(agents=12, seed=3, neglect__exhausted_after=5)
    agent = 2
    stand_at(w, agent, int(w.view("agent_bed")[agent]))
    w.step(actions_for(w, **{f"a{agent}": Action.INTERACT}))
    assert w.view("agent_aff")[agent] == w.params.type_aff[OBJ.BED]
    w.set_need(agent, "energy", 0.0)
    w.set_need(agent, "hunger", 1.0)
    for _ in range(30):
        w.step()
        assert EventCode.AGENT_COLLAPSED not in _codes(w, agent)
    assert w.view("agent_aff")[agent] == w.params.type_aff[OBJ.BED]
    assert _stat(w, "collapses") == 0


def test_an_unkempt_agent_is_shunned_and_its_chats_cost_trust():
    w = small_world(agents=12, seed=3, neglect__unkempt_after=10)
    dirty, clean = 0, 1
    _quiet_pair(w, dirty, clean)
    wait = actions_for(w, Action.WAIT)
    clean_talks = actions_for(w, Action.WAIT, **{f"a{clean}": Action.TALK})
    dirty_talks = actions_for(w, Action.WAIT, **{f"a{dirty}": Action.TALK})
    w.step(clean_talks)
    assert EventCode.CHAT_SUCCESS in _codes(w, clean), "a clean neighbour is chatted to"
    w.set_need(dirty, "hygiene", 0.0)
    onset = []
    for _ in range(10):
        w.step(wait)
        ev = w.events()
        onset += list(ev["value"][(ev["code"] == EventCode.NEED_NEGLECTED)
                                  & (ev["agent"] == dirty)])
    assert onset == [Need.HYGIENE] and _stat(w, "unkempt") == 1
    w.step(clean_talks)
    ev = w.events()
    assert EventCode.CHAT_FAILURE in ev["code"][ev["agent"] == clean], "shunned"
    w.set_relationship(dirty, clean, 0.5, 0.5, 0.0)
    w.step(dirty_talks)  # the unkempt agent starts a chat: its partner thinks less of it
    ev = w.events()
    soured = ev[ev["code"] == EventCode.CHAT_SOURED]
    assert [(int(e["agent"]), int(e["other"])) for e in soured] == [(clean, dirty)]
    assert w.tie(clean, dirty)[0] < 0.5 - 0.03 and w.tie(dirty, clean)[0] > 0.5
    assert _stat(w, "soured_chats") == 1
    w.set_need(dirty, "hygiene", 0.9)  # washed: welcome again
    w.step(wait)
    w.step(clean_talks)
    assert EventCode.CHAT_SUCCESS in _codes(w, clean)


def _at_work(world: World, agent: int) -> None:
    """Step the scripted town until ``agent`` is at work on time in its shift."""
    for _ in range(3 * 1440):
        world.step()
        if world.view("agent_shift")[agent] == Shift.ON_TIME and (
                world.view("agent_flags")[agent] & Flag.ON_SHIFT):
            return
    raise AssertionError("the agent never started a shift")


def test_a_lonely_worker_earns_less_until_it_has_company():
    agent = 9
    w = small_world(agents=40, seed=3, neglect__lonely_after=5)
    _at_work(w, agent)
    job = int(w.view("agent_job")[agent])
    wage, low = int(w.params.job_wage[job]), int(w.params.job_wage_low_mood[job])
    assert 0 < low < wage
    stay = actions_for(w, Action.WAIT)  # nobody moves or chats
    wages, withheld = w.view("agent_wages_today"), w.view("agent_withheld")

    def paid_per_tick() -> tuple[int, int]:
        before, lost = int(wages[agent]), int(withheld[agent])
        w.step(stay)
        return int(wages[agent]) - before, int(withheld[agent]) - lost

    assert paid_per_tick() == (wage, 0)
    w.set_need(agent, "social", 0.0)
    onset = []
    for _ in range(5):
        paid_per_tick()
        ev = w.events()
        onset += list(ev["value"][(ev["code"] == EventCode.NEED_NEGLECTED)
                                  & (ev["agent"] == agent)])
    assert onset == [Need.SOCIAL] and _stat(w, "lonely") == 1
    assert paid_per_tick() == (low, wage - low)
    assert _stat(w, "low_mood_ticks") >= 1
    w.force_chat(agent, (agent + 1) % w.n_agents)  # company lifts the mood
    assert paid_per_tick() == (wage, 0)
