"""The world's state arrays as a typed NamedTuple (the Python-side handle).

GENERATED from ``townlet.world.state.FIELDS`` by ``python -m townlet.world.state_codegen``;
edit FIELDS and regenerate, never this file. Dimensions: N agents, K ties, W
attendance window, M objects, B buildings, D districts, H x X tiles, E events,
S perturbation specs; numbers are fixed sizes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["State"]


class State(NamedTuple):
    """All state arrays by name; the compiled kernel sees them as a ``KernelState``."""

    agent_alive: NDArray[np.uint8]
    """(N) 1 while the slot holds a living agent"""
    agent_gen: NDArray[np.uint32]
    """(N) generation of the slot (increments on every newcomer)"""
    agent_x: NDArray[np.int16]
    """(N) tile column"""
    agent_y: NDArray[np.int16]
    """(N) tile row"""
    agent_needs: NDArray[np.float32]
    """(N, 4) needs in [0, 1], 1 = satisfied"""
    agent_wallet: NDArray[np.int64]
    """(N) money (minor units)"""
    agent_food: NDArray[np.int16]
    """(N) food items carried"""
    agent_home: NDArray[np.int32]
    """(N) home building"""
    agent_bed: NDArray[np.int32]
    """(N) the agent's own bed (object)"""
    agent_job: NDArray[np.int8]
    """(N) index into world.jobs"""
    agent_work: NDArray[np.int32]
    """(N) workplace building"""
    agent_district: NDArray[np.int32]
    """(N) district of home and work"""
    agent_goal: NDArray[np.int8]
    """(N) current goal (townlet.world.actions.Goal)"""
    agent_option: NDArray[np.uint8]
    """(N) 1 while an option action controls the goal"""
    agent_dest: NDArray[np.int32]
    """(N) object the agent is walking to, -1 none"""
    agent_obj: NDArray[np.int32]
    """(N) object the agent waits for or holds, -1 none"""
    agent_resv: NDArray[np.uint8]
    """(N) reservation state (Resv)"""
    agent_resv_since: NDArray[np.int32]
    """(N) tick the agent joined the queue or was granted"""
    agent_aff: NDArray[np.int16]
    """(N) running affordance, -1 none"""
    agent_aff_end: NDArray[np.int32]
    """(N) tick at which the running affordance completes"""
    agent_aff_paid: NDArray[np.int64]
    """(N) money paid at start, refunded if it fails (minor units)"""
    agent_q_next: NDArray[np.int32]
    """(N) next agent in the same queue"""
    agent_q_prev: NDArray[np.int32]
    """(N) previous agent in the same queue"""
    agent_cool_obj: NDArray[np.int32]
    """(N) object of the last successful use"""
    agent_cool_until: NDArray[np.int32]
    """(N) tick until which agent_cool_obj may not be reserved"""
    agent_t_next: NDArray[np.int32]
    """(N) next agent on the same tile"""
    agent_t_prev: NDArray[np.int32]
    """(N) previous agent on the same tile"""
    agent_action: NDArray[np.int8]
    """(N) last action executed"""
    agent_action_ok: NDArray[np.uint8]
    """(N) whether the last action succeeded"""
    agent_flags: NDArray[np.uint8]
    """(N) bit flags (townlet.world.actions.Flag)"""
    agent_possessed_action: NDArray[np.int8]
    """(N) action an operator set for a possessed agent"""
    agent_shift: NDArray[np.uint8]
    """(N) shift state (townlet.world.actions.Shift)"""
    agent_shift_ticks: NDArray[np.int32]
    """(N, 3) shift tick counters (ShiftTicks)"""
    agent_lateness: NDArray[np.int32]
    """(N) shifts started late"""
    agent_absences: NDArray[np.uint8]
    """(N) bit d set: absent d days ago (7-day window)"""
    agent_attendance: NDArray[np.float32]
    """(N, W) attendance of the last shifts (ring)"""
    agent_wages_today: NDArray[np.int64]
    """(N) wages earned today (minor units)"""
    agent_withheld: NDArray[np.int64]
    """(N) wages lost to lateness and absence, lifetime (minor units)"""
    agent_personality: NDArray[np.float32]
    """(N, 3) personality traits (TRAITS)"""
    agent_habits: NDArray[np.float32]
    """(N, 4) chronotype, appetite, sociability, punctuality (Habit)"""
    agent_favourite: NDArray[np.int32]
    """(N) favourite cafe for company (building; drawn at arrival, townlet.world.routines), -1:
    its district's"""
    agent_roster: NDArray[np.int16]
    """(N, 2) shift pattern and first day off (Roster)"""
    agent_today: NDArray[np.int32]
    """(N, 4) today's plan: works, leave, quit, bedtime (Today)"""
    agent_faint_until: NDArray[np.int32]
    """(N) tick until which the agent lies fainted"""
    agent_neglect: NDArray[np.int16]
    """(N, 4) consecutive ticks each need sat at 0 while nothing restored it, capped at its
    limit (townlet.world.neglect)"""
    agent_respawn_at: NDArray[np.int32]
    """(N) tick a newcomer arrives in this empty slot"""
    agent_meet_bld: NDArray[np.int32]
    """(N) building of an arranged meeting"""
    agent_meet_until: NDArray[np.int32]
    """(N) tick the arranged meeting ends"""
    agent_born: NDArray[np.int32]
    """(N) tick the agent arrived"""
    agent_teleported_at: NDArray[np.int32]
    """(N) tick of the last teleport (the flag lasts one tick)"""
    rel_other: NDArray[np.int32]
    """(N, K) agent slot of each tie, -1 empty"""
    rel_trust: NDArray[np.float32]
    """(N, K) trust in [-1, 1]"""
    rel_fam: NDArray[np.float32]
    """(N, K) familiarity in [0, 1]"""
    rel_riv: NDArray[np.float32]
    """(N, K) rivalry in [0, 1]"""
    obj_type: NDArray[np.int8]
    """(M) object type (townlet.world.town.OBJ), -1 empty slot"""
    obj_x: NDArray[np.int16]
    """(M) object tile column"""
    obj_y: NDArray[np.int16]
    """(M) object tile row"""
    obj_ax: NDArray[np.int16]
    """(M) access tile column (where users stand)"""
    obj_ay: NDArray[np.int16]
    """(M) access tile row"""
    obj_holder: NDArray[np.int32]
    """(M) agent holding the reservation, -1 none"""
    obj_q_head: NDArray[np.int32]
    """(M) first waiting agent"""
    obj_q_tail: NDArray[np.int32]
    """(M) last waiting agent"""
    obj_q_len: NDArray[np.int32]
    """(M) waiting agents"""
    obj_stock: NDArray[np.int32]
    """(M) stock (shops)"""
    obj_disabled: NDArray[np.uint8]
    """(M) 1 when an operator disabled the object"""
    shop_level: NDArray[np.int32]
    """(B) shop's demand level, permille of the town price, moved at each delivery
    (townlet.world.shops)"""
    shop_markup: NDArray[np.int32]
    """(B) price the building charges, permille of the town price: demand level + scarcity of
    its stock, bounded (1000 for non-shops)"""
    bld_kind: NDArray[np.int8]
    """(B) building kind (townlet.world.town.BLD)"""
    bld_district: NDArray[np.int32]
    """(B) district of the building"""
    district_grocer: NDArray[np.int32]
    """(D) grocer building of the district"""
    district_cafe: NDArray[np.int32]
    """(D) cafe building of the district"""
    district_power: NDArray[np.uint8]
    """(D) 1 while the district has power"""
    district_water: NDArray[np.uint8]
    """(D) 1 while the district has water"""
    tile_kind: NDArray[np.uint8]
    """(H, X) tile kind (townlet.world.geometry.TILE)"""
    tile_head: NDArray[np.int32]
    """(H, X) first agent on the tile"""
    price_base: NDArray[np.int64]
    """(4) configured prices (minor units)"""
    price_now: NDArray[np.int64]
    """(4) prices in force: base x active spikes (minor units)"""
    ledger: NDArray[np.int64]
    """(8) money accounts (LEDGER, minor units)"""
    stats: NDArray[np.int64]
    """(21) cumulative counters (STAT)"""
    econ: NDArray[np.int64]
    """(2) rent rule state (Econ, money in minor units)"""
    clock: NDArray[np.int64]
    """(1) ticks processed"""
    exit_queue: NDArray[np.int32]
    """(N) agents waiting to leave (FIFO ring, one slot per agent)"""
    exit_meta: NDArray[np.int32]
    """(5) exit queue cursor and pacing (ExitMeta)"""
    ctl: NDArray[np.int64]
    """(3) operator levers (Ctl)"""
    pert_kind: NDArray[np.int8]
    """(P) active perturbation kind, -1 free slot"""
    pert_spec: NDArray[np.int16]
    """(P) config spec index, -1 manual"""
    pert_id: NDArray[np.int32]
    """(P) event id"""
    pert_start: NDArray[np.int32]
    """(P) start tick"""
    pert_end: NDArray[np.int32]
    """(P) end tick (exclusive)"""
    pert_target: NDArray[np.int32]
    """(P) district (outages, meetings) or price index"""
    pert_mag: NDArray[np.float64]
    """(P) price multiplier"""
    pert_agents: NDArray[np.int32]
    """(P, 2) participants of an arranged meeting"""
    pert_spec_cool: NDArray[np.int32]
    """(S, D) tick until which each spec may not fire in each district (town-wide kinds: column
    0)"""
    pert_last: NDArray[np.int32]
    """(D) tick the scheduler last started one in each district, 0 never"""
    pert_meta: NDArray[np.int32]
    """(2) perturbation ids and pacing (PertMeta)"""
    evt_code: NDArray[np.int16]
    """(E) event code (townlet.world.events.EventCode)"""
    evt_agent: NDArray[np.int32]
    """(E) subject agent"""
    evt_other: NDArray[np.int32]
    """(E) other agent"""
    evt_obj: NDArray[np.int32]
    """(E) object, building or perturbation id"""
    evt_value: NDArray[np.float32]
    """(E) value (amount, reason code, ...)"""
    evt_len: NDArray[np.int32]
    """(1) events recorded this tick"""
    evt_stale: NDArray[np.uint8]
    """(1) 1 once the tick that recorded the events has ended: the next step or intervention
    starts a new batch (0: it appends to this one)"""
    rng_key: NDArray[np.uint64]
    """(4) per-stream keys derived from the seed"""
    rng_counter: NDArray[np.uint64]
    """(4) per-stream draw counters"""
