"""Jobs: the shift state machine by time of day, wages, lateness, absences and
the employment exit queue (SPEC/world.md §6.5 and §8.2, with daily shifts)."""

from __future__ import annotations

import numpy as np

from townlet.world.actions import Flag, Shift
from townlet.world.ahead import guard_in
from townlet.world.events import EventCode, emit
from townlet.world.geometry import building_of
from townlet.world.jit import inline_kernel, kernel
from townlet.world.neglect import low_mood
from townlet.world.routines import wrap
from townlet.world.state import Ctl, ExitMeta, Group, Ledger, ShiftTicks, St

__all__ = ["drop_exit", "enqueue_exit", "may_join_exit", "near_shift", "pop_exit", "popcount7",
           "shift_update"]


@kernel
def _charge(s, i, amount):
    """A penalty, floored at the wallet (never into debt)."""
    paid = min(amount, s.agent_wallet[i])
    s.agent_wallet[i] -= paid
    s.ledger[Ledger.PENALTIES] += paid


@inline_kernel
def popcount7(bits):
    """Set bits among the low 7 of ``bits`` (absent days in the window; pure; inlined: the
    wave tick's scan calls it per agent in a loop the compiler vectorises)."""
    n = 0
    for b in range(7):
        n += (bits >> b) & 1
    return n


@kernel
def enqueue_exit(s, p, i):
    """Put a worker in the exit queue (once); returns its place in the queue, 0 if it was
    already waiting. The ring has a slot per agent and an agent waits at most once, so it
    cannot fill up; the guard only protects the kernel from a corrupted state."""
    if s.agent_flags[i] & Flag.EXIT_PENDING:
        return 0
    head, length = s.exit_meta[ExitMeta.HEAD], s.exit_meta[ExitMeta.LENGTH]
    size = s.exit_queue.shape[0]
    if length >= size:
        emit(s, EventCode.EXIT_QUEUE_OVERFLOW, i, -1, -1, size)
        return 0
    guard_in(s, Group.EXITS, (head + length) % size)
    s.exit_queue[(head + length) % size] = i
    s.exit_meta[ExitMeta.LENGTH] = length + 1
    s.agent_flags[i] |= Flag.EXIT_PENDING
    emit(s, EventCode.EXIT_PENDING, i, -1, -1, length + 1)
    return length + 1


@kernel
def pop_exit(s, p, t):
    """The next agent allowed to leave now, or -1. Limits scale with the town: at most
    ``ctl[EXIT_CAP]`` exits per district per day, and exits come in batches of at most
    one per district, ``exit_spacing`` ticks apart."""
    m = s.exit_meta
    if m[ExitMeta.LENGTH] == 0:
        return -1
    districts = s.district_power.shape[0]
    cap = s.ctl[Ctl.EXIT_CAP]
    if cap > 0 and m[ExitMeta.EXITS_TODAY] >= cap * districts:
        return -1
    last = m[ExitMeta.LAST_TICK]
    if last == t and m[ExitMeta.BATCH] >= districts:
        return -1
    if last > 0 and last != t and t - last < p.exit_spacing:
        return -1
    head = m[ExitMeta.HEAD]
    i = s.exit_queue[head]
    guard_in(s, Group.EXITS, head)
    s.exit_queue[head] = -1
    s.agent_flags[i] &= ~np.uint8(Flag.EXIT_PENDING)
    m[ExitMeta.HEAD] = (head + 1) % s.exit_queue.shape[0]
    m[ExitMeta.LENGTH] -= 1
    m[ExitMeta.EXITS_TODAY] += 1
    m[ExitMeta.BATCH] = m[ExitMeta.BATCH] + 1 if last == t else 1
    m[ExitMeta.LAST_TICK] = t
    return i


@kernel
def drop_exit(s, i):
    """Take agent i out of the exit queue (it left the town another way: died, killed);
    the agents behind it move up one place. O(queue length), only for a queued agent."""
    if not s.agent_flags[i] & Flag.EXIT_PENDING:
        return
    s.agent_flags[i] &= ~np.uint8(Flag.EXIT_PENDING)
    head, length = s.exit_meta[ExitMeta.HEAD], s.exit_meta[ExitMeta.LENGTH]
    size = s.exit_queue.shape[0]
    found = False
    for k in range(length):
        slot = (head + k) % size
        if found:
            guard_in(s, Group.EXITS, (slot - 1) % size)
            s.exit_queue[(slot - 1) % size] = s.exit_queue[slot]
        elif s.exit_queue[slot] == i:
            found = True
    if found:
        guard_in(s, Group.EXITS, (head + length - 1) % size)
        s.exit_queue[(head + length - 1) % size] = -1
        s.exit_meta[ExitMeta.LENGTH] = length - 1


@inline_kernel
def may_join_exit(s, p, i):
    """Whether agent i, not yet waiting, would join the exit queue if its shift ended
    this tick, counting today as absent (reads only; townlet.world.waves)."""
    return not s.agent_flags[i] & Flag.EXIT_PENDING and (
        popcount7(s.agent_absences[i] | 1) >= p.max_absent)


@kernel
def _finish_shift(s, p, i, length):
    """Close agent i's shift: record attendance, count it, and queue an exit if absent too often."""
    done = s.agent_shift_ticks[i, ShiftTicks.DONE]
    s.agent_attendance[i, done % s.agent_attendance.shape[1]] = (
        s.agent_shift_ticks[i, ShiftTicks.ON_TIME] / max(1, length))
    s.agent_shift_ticks[i, ShiftTicks.DONE] = done + 1
    s.agent_shift[i] = Shift.POST_SHIFT
    s.agent_flags[i] &= ~np.uint8(Flag.ON_SHIFT)
    s.stats[St.SHIFTS_WORKED] += 1
    if popcount7(s.agent_absences[i]) >= p.max_absent:
        enqueue_exit(s, p, i)


@inline_kernel
def near_shift(p, j, tod):
    """Whether tick of day ``tod`` may matter to a shift of job j under any of its
    patterns (a superset of ``shift_update``'s ticks, known from the job alone, so most
    agents skip reading their plan and roster outside working hours)."""
    spread = (p.job_patterns[j] - 1) * p.job_stagger[j]
    last = p.job_start[j] + spread + p.job_end[j] - p.job_start[j]
    if p.job_start[j] <= tod <= last:
        return True
    return wrap(tod - p.job_start[j] + p.arrival_buffer, p.day) <= spread


@inline_kernel
def shift_update(s, p, i, tod, start):
    """Advance agent i's shift (starting at tick of day ``start``, its pattern's) for
    this tick of day; pay wages while present (cut to the low-mood wage while the agent
    is lonely, townlet.world.neglect: the difference is withheld)."""
    j = s.agent_job[i]
    end = start + p.job_end[j] - p.job_start[j]
    if tod == wrap(start - p.arrival_buffer, p.day):
        s.agent_shift[i] = Shift.AWAIT_START
        s.agent_flags[i] &= ~np.uint8(Flag.LATE_CHARGED | Flag.ABSENT_CHARGED | Flag.ARRIVED)
        s.agent_shift_ticks[i, ShiftTicks.ON_TIME] = 0
        s.agent_shift_ticks[i, ShiftTicks.LATE] = 0
    if tod == end and s.agent_shift[i] >= Shift.ON_TIME and s.agent_shift[i] <= Shift.ABSENT:
        _finish_shift(s, p, i, end - start)
        return
    if tod < start or tod >= end:
        return
    k = tod - start
    wage = p.job_wage[j]
    present = building_of(s.agent_x[i], s.agent_y[i], p.blocks_w) == s.agent_work[i]
    flags = s.agent_flags[i]
    if present:
        if k <= p.grace and not flags & Flag.ARRIVED:
            s.agent_shift[i] = Shift.ON_TIME
        elif not flags & Flag.ARRIVED:
            s.agent_shift[i] = Shift.LATE
        s.agent_flags[i] |= Flag.ARRIVED | Flag.ON_SHIFT
        if s.agent_shift[i] == Shift.LATE and not flags & Flag.LATE_CHARGED:
            s.agent_flags[i] |= Flag.LATE_CHARGED
            s.agent_lateness[i] += 1
            _charge(s, i, p.job_late_penalty[j])
            emit(s, EventCode.SHIFT_LATE_START, i, -1, -1, k)
        on_time = s.agent_shift[i] == Shift.ON_TIME
        s.agent_shift_ticks[i, ShiftTicks.ON_TIME if on_time else ShiftTicks.LATE] += 1
        if low_mood(s, p, i):
            s.stats[St.LOW_MOOD_TICKS] += 1
            s.agent_withheld[i] += wage - p.job_wage_low_mood[j]
            wage = p.job_wage_low_mood[j]
        s.agent_wallet[i] += wage
        s.ledger[Ledger.WAGES] += wage
        s.agent_wages_today[i] += wage
        return
    if flags & Flag.ON_SHIFT:
        s.agent_flags[i] &= ~np.uint8(Flag.ON_SHIFT)
        emit(s, EventCode.SHIFT_DEPARTED_EARLY, i, -1, -1, k)
    if k <= p.grace:
        return
    s.agent_withheld[i] += wage
    if flags & Flag.ARRIVED:
        return
    if k > p.absent_cutoff and not flags & Flag.ABSENT_CHARGED:
        s.agent_shift[i] = Shift.ABSENT
        s.agent_flags[i] |= Flag.ABSENT_CHARGED
        s.agent_absences[i] |= 1
        s.stats[St.ABSENCES] += 1
        _charge(s, i, p.absence_penalty)
        emit(s, EventCode.SHIFT_ABSENT, i, -1, -1, k)
    elif s.agent_shift[i] != Shift.ABSENT:
        s.agent_shift[i] = Shift.LATE
    if s.agent_shift[i] == Shift.LATE:
        _charge(s, i, p.late_tick_penalty)
