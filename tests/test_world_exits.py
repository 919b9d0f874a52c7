"""Employment exits scale with the town (issue 18): the queue has a slot per agent, so it
never overflows, and the daily cap and the batches are per district."""

from __future__ import annotations

import numpy as np
from worlds import small_world

from townlet.world.events import EventCode
from townlet.world.state import ExitMeta

DAY = 1440


def test_a_long_exit_queue_drains_per_district_without_overflow() -> None:
    w = small_world(agents=400, seed=2)
    districts = int(w.view("district_power").shape[0])
    assert districts >= 3
    w.set_exit_cap(2)
    waiting = list(range(0, 400, 4))  # 100 agents: more than the old 64-slot ring held
    for place, i in enumerate(waiting, start=1):
        assert w.employment_exit(i) == place
    assert int(w.view("exit_meta")[ExitMeta.LENGTH]) == len(waiting)
    left: list[tuple[int, int]] = []
    overflow = 0
    while w.tick < DAY - 1:  # the rest of day 0 (the cap resets at midnight)
        w.step()
        ev = w.events()
        overflow += int((ev["code"] == EventCode.EXIT_QUEUE_OVERFLOW).sum())
        left += [(w.tick, int(a)) for a in ev["agent"][ev["code"] == EventCode.EXIT_PROCESSED]]
    assert overflow == 0
    assert [a for _, a in left] == waiting[:2 * districts], "FIFO, cap 2 per district"
    ticks = sorted({t for t, _ in left})
    assert len(ticks) == 2 and ticks[1] - ticks[0] >= w.params.exit_spacing
    assert all(n == districts for n in np.unique([t for t, _ in left], return_counts=True)[1])
    assert int(w.view("exit_meta")[ExitMeta.LENGTH]) >= len(waiting) - 2 * districts


def test_an_agent_removed_while_waiting_to_exit_leaves_the_queue() -> None:
    """A killed (or dead) agent's slot used to stay in the ring: its exit was later
    processed for the empty slot, which brought a newcomer back into a killed slot."""
    w = small_world(agents=40, seed=2)
    for place, i in enumerate((3, 5, 7), start=1):
        assert w.employment_exit(i) == place
    w.kill(5)
    meta, ring = w.view("exit_meta"), w.view("exit_queue")
    assert int(meta[ExitMeta.LENGTH]) == 2
    head = int(meta[ExitMeta.HEAD])
    assert [int(ring[(head + k) % ring.size]) for k in range(2)] == [3, 7]
    left: list[int] = []
    while w.tick < DAY - 1:
        w.step()
        ev = w.events()
        left += [int(a) for a in ev["agent"][ev["code"] == EventCode.EXIT_PROCESSED]]
    assert left == [3, 7]
    assert int(meta[ExitMeta.LENGTH]) == 0 and (ring == -1).all()
    assert not w.view("agent_alive")[5], "a killed agent stays gone"
    assert w.employment_exit(3) == 1, "a newcomer in an exited slot may queue again"
