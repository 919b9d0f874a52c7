"""Reservations: FCFS queues, a running holder is never evicted, idle holders time
out, and a disabled object fails its affordance gracefully."""

from __future__ import annotations

import numpy as np

from tests.worlds import actions_for, home_object, small_world, stand_at
from townlet.world.actions import Action
from townlet.world.events import EventCode, Reason
from townlet.world.town import OBJ


def _setup(agents=(0, 1, 2)):
    w = small_world(agents=8, seed=4)
    shower = home_object(w, 0, OBJ.SHOWER)
    for a in agents:
        stand_at(w, a, shower)
        w.set_need(a, "hygiene", 0.2)
    return w, shower


def _events(world, code):
    e = world.events()
    return e[e["code"] == code]


def _check_invariants(w):
    holder, aff, obj = w.view("obj_holder"), w.view("agent_aff"), w.view("agent_obj")
    resv = w.view("agent_resv")
    held = np.flatnonzero(holder >= 0)
    assert (obj[holder[held]] == held).all() and (resv[holder[held]] == 2).all()
    running = np.flatnonzero(aff >= 0)
    assert (holder[obj[running]] == running).all(), "a running agent always holds its object"


def test_queue_is_served_in_order_and_the_running_holder_is_never_evicted():
    w, _shower = _setup()
    duration = w.config.world.affordances[2].duration
    acts = actions_for(w, Action.WAIT, a0=Action.INTERACT, a1=Action.INTERACT,
                       a2=Action.INTERACT)
    starts, finishes, fails = [], [], []
    for tick in range(3 * duration + 10):
        w.step(acts)
        _check_invariants(w)
        starts += [(tick, int(a)) for a in _events(w, EventCode.AFFORDANCE_START)["agent"]]
        finishes += [(tick, int(a)) for a in _events(w, EventCode.AFFORDANCE_FINISH)["agent"]]
        fails += list(_events(w, EventCode.AFFORDANCE_FAIL)["agent"])
    assert [a for _, a in starts][:3] == [0, 1, 2]
    assert [a for _, a in finishes][:3] == [0, 1, 2]
    assert not fails, "nobody is evicted or failed while others wait"
    assert finishes[1][0] <= 2 * duration + 5, "two contenders both finish within 2x+5"
    assert (w.view("agent_needs")[:3, 1] > 0.9).all()


def test_idle_holder_loses_the_reservation_to_the_next_waiter():
    w, shower = _setup()
    timeout = w.config.world.queues.idle_timeout_ticks
    w.step(actions_for(w, Action.WAIT, a0=Action.INTERACT, a1=Action.INTERACT,
                       a2=Action.INTERACT))
    # 1 stays in the queue but stops interacting: when granted it will sit idle
    acts = actions_for(w, Action.WAIT, a2=Action.INTERACT)
    granted_at = timed_out_at = None
    for tick in range(200):
        w.step(acts)
        if granted_at is None and w.view("obj_holder")[shower] == 1:
            granted_at = tick
        if 1 in _events(w, EventCode.RESERVATION_TIMEOUT)["agent"]:
            timed_out_at = tick
            break
    assert granted_at is not None and timed_out_at - granted_at == timeout
    assert w.view("obj_holder")[shower] == 2 and w.view("agent_aff")[2] >= 0
    assert w.view("agent_resv")[1] == 0


def test_disabled_object_fails_gracefully_and_works_again_when_enabled():
    w, shower = _setup(agents=(0,))
    acts = actions_for(w, Action.WAIT, a0=Action.INTERACT)
    w.step(acts)
    assert w.view("agent_aff")[0] >= 0
    wallet = float(w.view("agent_wallet")[0])
    hygiene = float(w.view("agent_needs")[0, 1])
    w.set_object_enabled(shower, False)
    fail = _events(w, EventCode.AFFORDANCE_FAIL)
    assert list(fail["agent"]) == [0] and fail["value"][0] == Reason.DISABLED
    assert w.view("obj_holder")[shower] == -1 and w.view("agent_aff")[0] == -1
    price = w.view("price_now")[3]
    assert float(w.view("agent_wallet")[0]) == wallet + price, "the water bill is refunded"
    for _ in range(40):
        w.step(acts)
        assert w.view("agent_aff")[0] == -1, "a disabled shower cannot be used"
    assert float(w.view("agent_needs")[0, 1]) < hygiene, "no effects were applied"
    w.set_object_enabled(shower, True)
    finished = False
    for _ in range(60):
        w.step(acts)
        finished |= 0 in _events(w, EventCode.AFFORDANCE_FINISH)["agent"]
    assert finished and float(w.view("agent_needs")[0, 1]) > 0.9


def test_cancel_refunds_and_applies_no_effects():
    w, _shower = _setup(agents=(0,))
    w.step(actions_for(w, Action.WAIT, a0=Action.INTERACT))
    wallet = float(w.view("agent_wallet")[0])
    w.step(actions_for(w, Action.WAIT, a0=Action.CANCEL))
    fail = _events(w, EventCode.AFFORDANCE_FAIL)
    assert fail["value"][0] == Reason.CANCELLED
    assert float(w.view("agent_wallet")[0]) > wallet
    assert float(w.view("agent_needs")[0, 1]) < 0.25
