"""Reservations: one holder per object and a FCFS queue of waiters.

The object's holder lives in ``obj_holder`` only; an agent's side is
``agent_obj``/``agent_resv``. Queues are doubly linked through
``agent_q_next``/``agent_q_prev`` so joining, leaving and granting are O(1).
An agent waits for or holds at most one object. A holder running an
affordance is never evicted because others wait; a holder that does not start
within ``idle_timeout`` loses the reservation (the deadlock rule).
"""

from __future__ import annotations

from townlet.world.ahead import guard
from townlet.world.events import EventCode, emit
from townlet.world.jit import inline_kernel, kernel
from townlet.world.state import Resv

__all__ = ["grant_next", "leave_queue", "release", "request"]


@kernel
def grant_next(s, o, t):
    """Give a free object to the head of its queue, if any."""
    head = s.obj_q_head[o]
    if head < 0 or s.obj_holder[o] >= 0:
        return -1
    guard(s, head)
    nxt = s.agent_q_next[head]
    s.obj_q_head[o] = nxt
    if nxt >= 0:
        guard(s, nxt)
        s.agent_q_prev[nxt] = -1
    else:
        s.obj_q_tail[o] = -1
    s.obj_q_len[o] -= 1
    s.agent_q_next[head] = -1
    s.agent_q_prev[head] = -1
    s.obj_holder[o] = head
    s.agent_resv[head] = Resv.HOLDING
    s.agent_resv_since[head] = t
    return head


@kernel
def request(s, i, o, t):
    """Join ``o``'s queue (granted at once if free). Returns False while cooling down."""
    if s.agent_cool_obj[i] == o and t < s.agent_cool_until[i]:
        return False
    if s.agent_obj[i] == o and s.agent_resv[i] != Resv.NONE:
        return True
    s.agent_obj[i] = o
    s.agent_resv[i] = Resv.WAITING
    s.agent_resv_since[i] = t
    tail = s.obj_q_tail[o]
    s.agent_q_prev[i] = tail
    s.agent_q_next[i] = -1
    if tail >= 0:
        guard(s, tail)
        s.agent_q_next[tail] = i
    else:
        s.obj_q_head[o] = i
    s.obj_q_tail[o] = i
    s.obj_q_len[o] += 1
    grant_next(s, o, t)
    return True


@kernel
def release(s, i, t, cooldown):
    """Give up the held object (cooldown > 0 after a success); the next waiter gets it."""
    guard(s, i)  # also the holder of an object cut off by a perturbation
    o = s.agent_obj[i]
    s.obj_holder[o] = -1
    s.agent_obj[i] = -1
    s.agent_resv[i] = Resv.NONE
    if cooldown > 0:
        s.agent_cool_obj[i] = o
        s.agent_cool_until[i] = t + cooldown
    return grant_next(s, o, t)


@inline_kernel
def leave_queue(s, i, t):
    """Stop waiting for (or holding, if not running anything) the agent's object. The
    test for having one is inlined into every caller: most agents have none, and the
    tick's hot path then pays no call."""
    if s.agent_obj[i] >= 0:
        _leave(s, i, t)


@kernel
def _leave(s, i, t):
    """``leave_queue`` for an agent that has an object."""
    o = s.agent_obj[i]
    if s.agent_resv[i] == Resv.HOLDING:
        release(s, i, t, 0)
        return
    p, n = s.agent_q_prev[i], s.agent_q_next[i]
    if p >= 0:
        guard(s, p)
        s.agent_q_next[p] = n
    else:
        s.obj_q_head[o] = n
    if n >= 0:
        guard(s, n)
        s.agent_q_prev[n] = p
    else:
        s.obj_q_tail[o] = p
    s.obj_q_len[o] -= 1
    s.agent_q_next[i] = -1
    s.agent_q_prev[i] = -1
    s.agent_obj[i] = -1
    s.agent_resv[i] = Resv.NONE


@kernel
def check_idle_holder(s, p, i, t):
    """Deadlock rule: a holder idle for idle_timeout ticks loses the object."""
    if t - s.agent_resv_since[i] < p.idle_timeout:
        return
    o = s.agent_obj[i]
    emit(s, EventCode.RESERVATION_TIMEOUT, i, -1, o, 0.0)
    release(s, i, t, 0)
