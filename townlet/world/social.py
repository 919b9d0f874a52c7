"""Relationships: K tie slots per agent (trust, familiarity, rivalry), chats,
shared meals, queue conflicts, hourly co-presence and hourly decay.

Rivalry forms from competition (queue conflicts, escalating when repeated;
ambitious coworkers side by side on shift) and decays more slowly than trust
and familiarity, so grudges last days; friendships form from repeated
co-presence (housemates, coworkers, regulars).

Neighbours are found through the per-tile occupancy lists (``tile_head`` /
``agent_t_next``), never by scanning all agents. A full ledger evicts its
weakest tie (smallest |trust| + familiarity + rivalry), so strong friends and
strong rivals are both kept.
"""

from __future__ import annotations

import numpy as np

from townlet.world.actions import Shift
from townlet.world.ahead import guard
from townlet.world.events import EventCode, emit
from townlet.world.jit import inline_kernel, kernel
from townlet.world.neglect import unkempt
from townlet.world.params import HOOK_SHARED_MEAL
from townlet.world.rng import POLICY, uniform
from townlet.world.state import Need, St, Trait

__all__ = [
    "bump_pair",
    "chat",
    "chat_with",
    "conflict",
    "decay_ties",
    "drop_ties",
    "hourly_ties",
    "is_rival",
    "set_tie",
    "shared_meal",
    "tile_link",
    "tile_unlink",
    "wants_chat",
]

MAX_SCAN = 6
"""Agents examined per tile when looking for a partner (keeps the cost O(1))."""


@inline_kernel
def tile_link(s, i):
    """Put agent i at the head of its tile's agent list."""
    x, y = s.agent_x[i], s.agent_y[i]
    head = s.tile_head[y, x]
    s.agent_t_prev[i] = -1
    s.agent_t_next[i] = head
    if head >= 0:
        guard(s, head)
        s.agent_t_prev[head] = i
    s.tile_head[y, x] = i


@inline_kernel
def tile_unlink(s, i):
    """Take agent i out of its tile's agent list."""
    p, n = s.agent_t_prev[i], s.agent_t_next[i]
    if p >= 0:
        guard(s, p)
        s.agent_t_next[p] = n
    else:
        s.tile_head[s.agent_y[i], s.agent_x[i]] = n
    if n >= 0:
        guard(s, n)
        s.agent_t_prev[n] = p
    s.agent_t_prev[i] = -1
    s.agent_t_next[i] = -1


@inline_kernel
def _slot(s, i, j):
    """The slot of agent i's tie to j, or -1 (reads only)."""
    for k in range(s.rel_other.shape[1]):
        if s.rel_other[i, k] == j:
            return k
    return -1


@inline_kernel
def _clear(s, i, k):
    """Empty agent i's tie slot k (no-op for k < 0)."""
    if k >= 0:
        guard(s, i)
        s.rel_other[i, k] = -1
        s.rel_trust[i, k] = 0.0
        s.rel_fam[i, k] = 0.0
        s.rel_riv[i, k] = 0.0


@kernel
def _admit(s, i, j):
    """Slot for a tie i->j: existing, empty, or the weakest one evicted."""
    k = _slot(s, i, j)
    if k >= 0:
        return k
    weakest, best = 0, np.float32(1e9)
    for k in range(s.rel_other.shape[1]):
        if s.rel_other[i, k] < 0:
            weakest = k
            break
        strength = abs(s.rel_trust[i, k]) + s.rel_fam[i, k] + s.rel_riv[i, k]
        if strength < best:
            weakest, best = k, strength
    old = s.rel_other[i, weakest]
    if old >= 0:  # membership stays symmetric: the evicted agent forgets i too
        _clear(s, old, _slot(s, old, i))
    s.rel_other[i, weakest] = j
    s.rel_trust[i, weakest] = 0.0
    s.rel_fam[i, weakest] = 0.0
    s.rel_riv[i, weakest] = 0.0
    return weakest


@kernel
def _bump(s, i, j, dt, df, dr):
    """Add trust, familiarity and rivalry (personality-scaled) to i's tie to j, clamped."""
    guard(s, i)
    k = _admit(s, i, j)
    if dr > 0:  # forgiving agents take less offence, ambitious ones more
        dr *= max(0.0, 1.0 - 0.5 * s.agent_personality[i, Trait.FORGIVENESS]
                  + 0.3 * s.agent_personality[i, Trait.AMBITION])
    s.rel_trust[i, k] = min(1.0, max(-1.0, s.rel_trust[i, k] + dt))
    s.rel_fam[i, k] = min(1.0, max(0.0, s.rel_fam[i, k] + df))
    s.rel_riv[i, k] = min(1.0, max(0.0, s.rel_riv[i, k] + dr))


@kernel
def bump_pair(s, p, i, j, dt, df, dr):
    """Apply the same base delta to both directions of the i-j tie."""
    _bump(s, i, j, dt, df, dr)
    _bump(s, j, i, dt, df, dr)


@inline_kernel
def is_rival(s, p, i, j):
    """Whether agent i's rivalry toward j reaches the avoid threshold (reads only)."""
    k = _slot(s, i, j)
    return k >= 0 and s.rel_riv[i, k] >= p.avoid


@inline_kernel
def _rivalry(s, i, j):
    """Agent i's rivalry toward j, 0 without a tie (reads only)."""
    k = _slot(s, i, j)
    return s.rel_riv[i, k] if k >= 0 else np.float32(0.0)


@kernel
def conflict(s, p, waiter, holder, o):
    """A queue conflict: rivalry grows both ways, more between old rivals (a repeated
    conflict adds ``conflict_rivalry`` x (1 + the rivalry already there))."""
    s.stats[St.CONFLICTS] += 1
    emit(s, EventCode.QUEUE_CONFLICT, waiter, holder, o, s.obj_q_len[o])
    dr = p.conflict_riv * (1.0 + max(_rivalry(s, waiter, holder), _rivalry(s, holder, waiter)))
    bump_pair(s, p, waiter, holder, 0.0, 0.0, dr)


ANYONE, CHAT, MEAL = 0, 1, 2
"""``_partner`` modes: any neighbour; one the agent would chat with; one eating too."""


@kernel
def _partner(s, p, i, t, mode):
    """A neighbour (Chebyshev <= 1) for ``mode`` (ANYONE, CHAT or MEAL), or -1. Chat and
    meal partners exclude the agent's rivals; chat partners exclude unkempt agents."""
    x0, y0 = s.agent_x[i], s.agent_y[i]
    h, w = s.tile_head.shape
    # exact in uint64 (a uint64 plus a signed integer is a float64 in Numba)
    start = np.int64((s.rng_counter[POLICY] % np.uint64(9) + np.uint64((t + i) % 9))
                     % np.uint64(9))
    for step in range(9):
        cell = (start + step) % 9
        y, x = y0 + cell // 3 - 1, x0 + cell % 3 - 1
        if y < 0 or x < 0 or y >= h or x >= w:
            continue
        j = s.tile_head[y, x]
        scanned = 0
        while j >= 0 and scanned < MAX_SCAN:
            sharing = s.agent_aff[j] >= 0 and p.aff_hooks[s.agent_aff[j]] & HOOK_SHARED_MEAL
            if j != i and (mode == ANYONE or not is_rival(s, p, i, j) and (
                    mode == CHAT and not unkempt(s, p, j) or mode == MEAL and sharing)):
                return j
            j = s.agent_t_next[j]
            scanned += 1
    return -1


@inline_kernel
def wants_chat(s, p, i, t):
    """The policy stream's coin for a spontaneous chat this tick."""
    return uniform(s.rng_key[POLICY], t, i) < p.chat_chance


@kernel
def chat(s, p, i, t, report_failure):
    """Chat with a neighbour: social need, trust and familiarity rise for both."""
    j = _partner(s, p, i, t, CHAT)
    if j < 0:
        if report_failure:
            emit(s, EventCode.CHAT_FAILURE, i, j, -1, 0.0)
        return False
    chat_with(s, p, i, j, 1.0)
    return True


@kernel
def chat_with(s, p, i, j, quality):
    """A successful chat of i with j: social need, trust and familiarity rise for both,
    scaled by ``quality`` in [0, 1]; CHATS stat and event. A partner who is unkempt
    (townlet.world.neglect) costs the other ``unkempt_trust`` instead (CHAT_SOURED)."""
    for a, b in ((i, j), (j, i)):
        guard(s, a)
        s.agent_needs[a, Need.SOCIAL] = min(np.float32(1.0), s.agent_needs[a, Need.SOCIAL]
                                            + np.float32(p.chat_social * quality))
        if unkempt(s, p, b):
            _bump(s, a, b, -p.unkempt_trust, p.chat_fam * quality, 0.0)
            s.stats[St.SOURED_CHATS] += 1
            emit(s, EventCode.CHAT_SOURED, a, b, -1, p.unkempt_trust)
        else:
            _bump(s, a, b, p.chat_trust * quality, p.chat_fam * quality, 0.0)
    s.stats[St.CHATS] += 1
    emit(s, EventCode.CHAT_SUCCESS, i, j, -1, quality)


@kernel
def shared_meal(s, p, i, o):
    """Finishing a meal next to someone who is eating makes it a shared meal."""
    j = _partner(s, p, i, 0, MEAL)
    if j >= 0:
        bump_pair(s, p, i, j, p.meal_trust, p.meal_fam, 0.0)
        emit(s, EventCode.SHARED_MEAL, i, j, o, 0.0)


@inline_kernel
def _on_shift(s, i):
    """Whether agent i is at work in its shift now, on time or late (reads only)."""
    return s.agent_shift[i] == Shift.ON_TIME or s.agent_shift[i] == Shift.LATE


@kernel
def _copresence(s, p, i, t):
    """One neighbour of agent i this hour: two ambitious coworkers on shift compete
    (rivalry ``workplace_rivalry`` x their summed ambition), anyone else who is not a
    rival grows on the agent (``copresence_trust`` / ``copresence_familiarity``)."""
    j = _partner(s, p, i, t, ANYONE)
    if j < 0:
        return
    if s.agent_work[i] == s.agent_work[j] and _on_shift(s, i) and _on_shift(s, j):
        drive = s.agent_personality[i, Trait.AMBITION] + s.agent_personality[j, Trait.AMBITION]
        if drive > 0:
            bump_pair(s, p, i, j, 0.0, 0.0, p.workplace_riv * drive)
            return
    if not is_rival(s, p, i, j) and not is_rival(s, p, j, i):
        bump_pair(s, p, i, j, p.copresence_trust, p.copresence_fam, 0.0)


@kernel
def hourly_ties(s, p, i, t):
    """Agent i's hour mark: decay its ties, then meet whoever stands next to it."""
    decay_ties(s, p, i)
    _copresence(s, p, i, t)


@kernel
def decay_ties(s, p, i):
    """One hour of decay toward 0 for every tie of agent i (trust and familiarity by
    ``decay_per_hour``, rivalry by ``rivalry_decay_per_hour``); empty ties are freed."""
    d, dr = np.float32(p.decay_hour), np.float32(p.riv_decay_hour)
    for k in range(s.rel_other.shape[1]):
        if s.rel_other[i, k] < 0:
            continue
        tr = s.rel_trust[i, k]
        s.rel_trust[i, k] = max(np.float32(0.0), tr - d) if tr > 0 else min(np.float32(0.0), tr + d)
        s.rel_fam[i, k] = max(np.float32(0.0), s.rel_fam[i, k] - d)
        s.rel_riv[i, k] = max(np.float32(0.0), s.rel_riv[i, k] - dr)
        if s.rel_trust[i, k] == 0 and s.rel_fam[i, k] == 0 and s.rel_riv[i, k] == 0:
            j = s.rel_other[i, k]
            _clear(s, i, k)
            _clear(s, j, _slot(s, j, i))


@kernel
def drop_ties(s, i):
    """Forget agent i: its ties and, since membership is symmetric, everyone's ties to it."""
    for k in range(s.rel_other.shape[1]):
        j = s.rel_other[i, k]
        if j >= 0:
            _clear(s, j, _slot(s, j, i))
        _clear(s, i, k)


@kernel
def set_tie(s, i, j, trust, fam, riv):
    """Set both directions of the i-j tie to exact values (an operator's override)."""
    for a, b in ((i, j), (j, i)):
        guard(s, a)
        k = _admit(s, a, b)
        s.rel_trust[a, k] = trust
        s.rel_fam[a, k] = fam
        s.rel_riv[a, k] = riv

