"""Typed world events: codes, reason codes and the bounded per-tick buffer.

Every event is one row (code, agent, other, obj, value) of the ``evt_*``
arrays, plus the tick. ``obj`` holds an object, a building or a perturbation id
depending on the code, and ``value`` an amount or a reason code, as documented
per code below. When the buffer is full the event is counted as dropped.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from townlet.world.ahead import guard_in
from townlet.world.jit import kernel
from townlet.world.state import Group, St

__all__ = ["EVENT_DTYPE", "EventCode", "Reason", "emit"]


class EventCode(IntEnum):
    AFFORDANCE_START = 1  # agent, obj, value = price paid
    AFFORDANCE_FINISH = 2  # agent, obj, value = affordance
    AFFORDANCE_FAIL = 3  # agent, obj, value = Reason
    PRECONDITION_FAIL = 4  # agent, obj, value = failing condition index
    SHOWER_COMPLETE = 5  # agent, obj
    SLEEP_COMPLETE = 6  # agent, obj
    SHARED_MEAL = 7  # agent, other, obj
    STOCK_REPLENISH = 8  # obj = building, value = units delivered
    QUEUE_CONFLICT = 9  # agent (waiter), other (holder), obj, value = queue length
    QUEUE_HANDOVER = 10  # agent (finisher), other (next holder), obj
    RESERVATION_TIMEOUT = 11  # agent (idle holder), obj
    CHAT_SUCCESS = 12  # agent (speaker), other (listener)
    CHAT_FAILURE = 13  # agent, other
    SHIFT_LATE_START = 14  # agent, value = ticks late
    SHIFT_ABSENT = 15  # agent
    SHIFT_DEPARTED_EARLY = 16  # agent
    EXIT_PENDING = 17  # agent, value = queue length
    EXIT_QUEUE_OVERFLOW = 18  # agent, value = queue capacity
    EXIT_PROCESSED = 19  # agent, value = absences in 7 days
    AGENT_FAINTED = 20  # agent
    AGENT_DIED = 21  # agent, value = Reason
    AGENT_RESPAWN = 22  # agent, value = generation
    AGENT_KILLED = 23  # agent
    AGENT_SPAWNED = 24  # agent
    AGENT_TELEPORTED = 25  # agent
    PERTURBATION_STARTED = 26  # obj = event id, value = kind
    PERTURBATION_ENDED = 27  # obj = event id, value = kind
    PERTURBATION_CANCELLED = 28  # obj = event id, value = kind
    PRICE_CHANGE = 29  # obj = price index, value = new price
    MEETING_ARRANGED = 30  # agent, other, obj = building
    OBJECT_DISABLED = 31  # obj
    OBJECT_ENABLED = 32  # obj
    NEED_NEGLECTED = 33  # agent, value = need index (a need at 0 for long: its effect begins)
    AGENT_COLLAPSED = 34  # agent, value = ticks it will lie asleep where it stands
    CHAT_SOURED = 35  # agent (partner losing trust), other (the unkempt agent)


class Reason(IntEnum):
    """Why an affordance failed or an agent left (``value`` of those events)."""

    PRECONDITION = 1
    FUNDS = 2
    STOCK = 3
    NO_FOOD = 4
    OUTAGE = 5
    DISABLED = 6
    CANCELLED = 7
    FAINTED = 8
    REMOVED = 9
    TELEPORTED = 10
    STARVATION = 11
    EXIT = 12
    KILLED = 13
    NOT_HOLDER = 14
    HUNGRY = 15
    """A scripted sleeper woke up hungry (its sleep fails)."""
    EXHAUSTED = 16
    """The agent collapsed from exhaustion (energy at 0 for long)."""


EVENT_DTYPE = np.dtype([("code", "<i2"), ("tick", "<i4"), ("agent", "<i4"), ("other", "<i4"),
                        ("obj", "<i4"), ("value", "<f4")])
"""Row layout of ``World.events()`` and of the frame's event table."""


@kernel
def emit(s, code, agent, other, obj, value):
    """Append an event to this tick's buffer, or count it as dropped when full."""
    n = s.evt_len[0]
    if n >= s.evt_code.shape[0]:
        s.stats[St.EVENTS_DROPPED] += 1
        return
    guard_in(s, Group.EVENTS, n)
    s.evt_code[n] = code
    s.evt_agent[n] = agent
    s.evt_other[n] = other
    s.evt_obj[n] = obj
    s.evt_value[n] = value + 0  # "+ 0" turns IntEnum reason codes into plain numbers
    s.evt_len[0] = n + 1
