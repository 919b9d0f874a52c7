"""Per-slot episode bookkeeping after each world tick, compiled.

A slot's episode ends with a *termination* when its agent dies, leaves or is
replaced by a newcomer (``agent_gen`` changed), and with a *truncation* when it
has lasted ``rl.truncate_ticks`` (the agent lives on and a new episode starts at
the same observation). A newcomer starts a new episode, gets an embedding slot
and raises ``ctx_reset``. ``Track`` holds everything carried between ticks (all
arrays, so it snapshots exactly); ``StepOut`` is overwritten on every step.
"""

from __future__ import annotations

import collections

import numpy as np
from numba import njit

from townlet.rl.rewards import (
    COMPONENTS,
    END_DEATH,
    END_EXIT,
    END_NONE,
    R,
    living_reward,
    scan_events,
    terminal_reward,
)
from townlet.rl.slots import allocate, new_slot_arrays, release_sorted
from townlet.world.actions import Flag

__all__ = ["StepOut", "Track", "advance", "new_step_out", "new_track"]

NO_END = -(1 << 40)

Track = collections.namedtuple("Track", [
    "gen", "alive", "flags", "wages", "withheld", "ep_len", "ep_return", "ep_total",
    "end_tick", "episodes", "emb_of", "emb_fifo", "emb_release", "emb_meta", "crit", "scratch",
])
"""State carried between ticks, per slot (plus the embedding slot allocator; ``crit``:
the critical-need bits ``townlet.rl.commit`` compares against)."""

StepOut = collections.namedtuple("StepOut", [
    "reward", "comp", "terminated", "truncated", "episode_start", "new_agent", "end_kind",
    "ctx_reset", "acted", "final_return", "final_length",
])
"""Per-step results, per slot."""


def new_track(n: int, max_slots: int) -> Track:
    fifo, release, meta = new_slot_arrays(max_slots)
    return Track(
        gen=np.zeros(n, np.uint32), alive=np.zeros(n, np.uint8), flags=np.zeros(n, np.uint8),
        wages=np.zeros(n, np.int64), withheld=np.zeros(n, np.int64),
        ep_len=np.zeros(n, np.int32), ep_return=np.zeros(n, np.float64),
        ep_total=np.zeros(n, np.float64), end_tick=np.full(n, NO_END, np.int64),
        episodes=np.zeros(n, np.int64), emb_of=np.full(n, -1, np.int32),
        emb_fifo=fifo, emb_release=release, emb_meta=meta, crit=np.zeros(n, np.uint8),
        scratch=np.zeros(n, np.int32))


def new_step_out(n: int) -> StepOut:
    return StepOut(
        reward=np.zeros(n, np.float32), comp=np.zeros((n, len(COMPONENTS)), np.float32),
        terminated=np.zeros(n, np.bool_), truncated=np.zeros(n, np.bool_),
        episode_start=np.zeros(n, np.bool_), new_agent=np.zeros(n, np.bool_),
        end_kind=np.zeros(n, np.int8), ctx_reset=np.zeros(n, np.uint8),
        acted=np.zeros(n, np.bool_), final_return=np.zeros(n, np.float32),
        final_length=np.zeros(n, np.int32))


@njit(cache=True)
def advance(st, rs, tr, out, prev_controlled, comp64):
    """Rewards, episode boundaries and embedding slots for the tick just run.

    ``prev_controlled`` says which slots the policy controlled when it chose
    this step's actions; ``comp64`` is an (N, components) float64 scratch.
    """
    tick = st.clock[0]
    n = st.agent_alive.shape[0]
    comp64[:] = 0.0
    out.end_kind[:] = END_NONE
    scan_events(st, rs, comp64, out.end_kind)
    released = 0
    for i in range(n):
        now = st.agent_alive[i] != 0
        was = tr.alive[i] != 0
        same = now and was and st.agent_gen[i] == tr.gen[i]
        ended = was and not same
        started = now and not same
        possessed = (st.agent_flags[i] & Flag.POSSESSED) != 0
        c = comp64[i]
        out.terminated[i] = ended
        out.truncated[i] = False
        out.episode_start[i] = started
        out.new_agent[i] = started
        out.acted[i] = prev_controlled[i] and (ended or (same and not possessed))
        out.final_return[i] = 0.0
        out.final_length[i] = 0
        if same:
            tr.ep_total[i] = living_reward(st, rs, i, tick, tr.flags[i], tr.wages[i],
                                           tr.withheld[i], tr.end_tick[i], tr.ep_total[i], c)
            tr.ep_len[i] += 1
            tr.ep_return[i] += c[R.total]
            if rs.truncate > 0 and tr.ep_len[i] >= rs.truncate:
                out.truncated[i] = True
                out.episode_start[i] = True
                out.final_return[i] = tr.ep_return[i]
                out.final_length[i] = tr.ep_len[i]
                tr.ep_len[i] = 0
                tr.ep_return[i] = 0.0
                tr.ep_total[i] = 0.0
                tr.episodes[i] += 1
        elif ended:
            kind = terminal_reward(rs, out.end_kind[i], tr.flags[i], c)
            out.end_kind[i] = kind
            if kind == END_DEATH or kind == END_EXIT:
                tr.end_tick[i] = tick
            out.final_return[i] = tr.ep_return[i] + c[R.total]
            out.final_length[i] = tr.ep_len[i] + 1
            tr.episodes[i] += 1
            if tr.emb_of[i] >= 0:
                tr.scratch[released] = tr.emb_of[i]
                released += 1
                tr.emb_of[i] = -1
        else:
            c[:] = 0.0
        flags = st.agent_flags[i]
        out.ctx_reset[i] = started or (now and (
            (flags & Flag.TELEPORTED) != 0
            or (flags & Flag.POSSESSED) != (tr.flags[i] & Flag.POSSESSED)))
        tr.alive[i] = now
        tr.gen[i] = st.agent_gen[i]
        tr.flags[i] = flags if now else 0
        tr.wages[i] = st.agent_wages_today[i] if now else 0
        tr.withheld[i] = st.agent_withheld[i] if now else 0
    if released:
        release_sorted(tr.emb_fifo, tr.emb_release, tr.emb_meta, tr.scratch, released, tick)
    for i in range(n):
        if out.new_agent[i]:
            tr.emb_of[i] = allocate(tr.emb_fifo, tr.emb_release, tr.emb_meta, tick, rs.cooldown)
            tr.ep_len[i] = 0
            tr.ep_return[i] = 0.0
            tr.ep_total[i] = 0.0
    for i in range(n):
        for k in range(comp64.shape[1]):
            out.comp[i, k] = comp64[i, k]
        out.reward[i] = comp64[i, R.total]
