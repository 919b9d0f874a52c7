"""The world's state: one table of named arrays (struct of arrays).

``FIELDS`` is the single definition of every array that makes up the state;
allocation, hashing, ``World.sections()``, snapshots and frames all read it.
Dimensions are symbolic and resolved from the town at allocation:

- ``N`` agent slots, ``K`` relationship slots, ``W`` attendance window,
- ``M`` objects, ``B`` buildings, ``D`` districts, ``H``/``X`` grid rows/columns,
- ``E`` events per tick, ``P`` perturbation slots, ``S`` perturbation specs.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.experimental import structref

from townlet.config.world import NEEDS, OBJECT_TYPES, PERTURBATION_KINDS, PRICES
from townlet.world.jit import INTERPRETED
from townlet.world.names import index_enum
from townlet.world.state_tuple import State

__all__ = [
    "AHEAD_FIELDS",
    "CAPTURE",
    "FIELDS",
    "GROUPS",
    "LEDGER",
    "NEEDS",
    "N_NEEDS",
    "PACKED",
    "PERT_MANUAL",
    "PRICES",
    "ROW_FIELDS",
    "STAT",
    "TOWN_FIELDS",
    "TRAITS",
    "UNPLANNED",
    "Ctl",
    "Econ",
    "ExitMeta",
    "Field",
    "Group",
    "Habit",
    "KernelState",
    "Ledger",
    "Need",
    "PertMeta",
    "Price",
    "Resv",
    "Roster",
    "ShiftTicks",
    "St",
    "State",
    "Today",
    "Trait",
    "allocate",
    "frame_vocab",
    "kernel_state",
    "pert_slots",
    "row_bytes",
    "state_from",
]

LEDGER = ("initial", "wages", "spending", "penalties", "starter_kits", "departed", "rent",
          "endowment")
"""Money accounts: sum(wallets) == initial + wages + starter_kits - spending - penalties
- departed - rent; the town treasury is endowment + spending + penalties + departed + rent
- wages - starter_kits (townlet.world.economy), so wallets + treasury never change.
Every money field is int64 minor units (townlet.config.money), so the identities are exact."""
STAT = ("deaths", "faints", "respawns", "exits", "chats", "completed", "failed",
        "events_dropped", "conflicts", "kills", "spawns", "critical_ticks", "agent_ticks",
        "shifts_worked", "absences", "collapses", "unkempt", "lonely", "soured_chats",
        "low_mood_ticks", "sold_out")
PERT_MANUAL = 16
"""Perturbation slots beyond the scheduler's worst case, kept for operators (World.perturb)."""
RNG_STREAMS = ("world", "events", "policy", "lifecycle")
TRAITS = ("extroversion", "forgiveness", "ambition")
"""Personality traits: the columns of ``agent_personality``, each in [-1, 1]."""

Need = index_enum("Need", NEEDS)
N_NEEDS = len(Need)
"""Columns of ``agent_needs`` (a constant for compiled loops over them: they unroll)."""
Price = index_enum("Price", PRICES)
Ledger = index_enum("Ledger", LEDGER)
St = index_enum("St", STAT)
Trait = index_enum("Trait", TRAITS)
"""Index enums for the columns of agent_needs, price_*, ledger, stats and agent_personality."""


class Resv(IntEnum):
    """``agent_resv``: the agent's side of a reservation."""

    NONE = 0
    WAITING = 1  # in agent_obj's queue
    HOLDING = 2  # agent_obj's holder


class ExitMeta(IntEnum):
    """Entries of ``exit_meta``: the exit queue's ring cursor and daily pacing."""

    HEAD = 0  # ring slot of the first waiting agent
    LENGTH = 1  # agents waiting
    EXITS_TODAY = 2  # exits processed since midnight
    LAST_TICK = 3  # tick of the last exit batch, 0 none yet
    BATCH = 4  # exits processed at LAST_TICK (at most one per district)


class Ctl(IntEnum):
    """Entries of ``ctl``: the operator levers, set from the config at start and by the
    console (``World.set_exit_cap`` ...) afterwards; state, so snapshots keep them."""

    EXIT_CAP = 0  # exits per district per day, 0 = unlimited
    RESPAWN_DELAY = 1  # ticks from a removal to the newcomer's arrival
    MORTALITY = 2  # 1: sustained starvation kills; 0: it only faints


class Econ(IntEnum):
    """Entries of ``econ``: the rent rule's state (townlet.world.economy)."""

    DUE = 0  # what today's rent must raise: the treasury's gap at midnight (minor units)
    SAVINGS = 1  # agents' savings summed in the last tick of the day (economy.savings)


class PertMeta(IntEnum):
    """Entries of ``pert_meta``."""

    NEXT_ID = 0  # event id the next perturbation gets
    LAST_SCHEDULED = 1  # tick the scheduler last started one, 0 never


class ShiftTicks(IntEnum):
    """Columns of ``agent_shift_ticks``."""

    ON_TIME = 0  # ticks present on time in this shift
    LATE = 1  # ticks present late in this shift
    DONE = 2  # shifts finished, lifetime


class Habit(IntEnum):
    """Columns of ``agent_habits``: the agent's routine traits, drawn at arrival (world
    stream); its personality is ``agent_personality`` (Trait)."""

    CHRONOTYPE = 0  # preferred bedtime minus the town's bedtime, ticks
    APPETITE = 1  # multiplier of hunger decay
    SOCIABILITY = 2  # multiplier of social decay
    PUNCTUALITY = 3  # spare ticks beyond the walk allowed to get to work


class Roster(IntEnum):
    """Columns of ``agent_roster``: the agent's place in its job's schedule."""

    PATTERN = 0  # shift pattern: starts and ends PATTERN * stagger ticks late
    WEEKEND = 1  # weekday of the first day off


class Today(IntEnum):
    """Columns of ``agent_today``: today's plan, redrawn at midnight (world stream)."""

    WORKS = 0  # 1 if today is a work day, UNPLANNED before the first plan
    LEAVE = 1  # tick of day the agent sets off for work
    QUIT = 2  # tick of day the agent leaves work (shift end plus today's overtime)
    BEDTIME = 3  # tick of day the agent's night starts


UNPLANNED = -1
"""``agent_today[:, WORKS]`` of an agent whose routines are still to be drawn (a snapshot
migrated from before routines existed): the kernel draws them on its next tick."""


class Field(NamedTuple):
    name: str
    dtype: str
    dims: tuple[str | int, ...]
    fill: float | int
    doc: str


def _f(name, dtype, dims, fill, doc):
    return Field(name, dtype, dims if isinstance(dims, tuple) else (dims,), fill, doc)


FIELDS: tuple[Field, ...] = (
    # agents
    _f("agent_alive", "u1", "N", 0, "1 while the slot holds a living agent"),
    _f("agent_gen", "u4", "N", 0, "generation of the slot (increments on every newcomer)"),
    _f("agent_x", "i2", "N", 0, "tile column"),
    _f("agent_y", "i2", "N", 0, "tile row"),
    _f("agent_needs", "f4", ("N", len(NEEDS)), 0, "needs in [0, 1], 1 = satisfied"),
    _f("agent_wallet", "i8", "N", 0, "money (minor units)"),
    _f("agent_food", "i2", "N", 0, "food items carried"),
    _f("agent_home", "i4", "N", 0, "home building"),
    _f("agent_bed", "i4", "N", 0, "the agent's own bed (object)"),
    _f("agent_job", "i1", "N", 0, "index into world.jobs"),
    _f("agent_work", "i4", "N", 0, "workplace building"),
    _f("agent_district", "i4", "N", 0, "district of home and work"),
    _f("agent_goal", "i1", "N", 0, "current goal (townlet.world.actions.Goal)"),
    _f("agent_option", "u1", "N", 0, "1 while an option action controls the goal"),
    _f("agent_dest", "i4", "N", -1, "object the agent is walking to, -1 none"),
    _f("agent_obj", "i4", "N", -1, "object the agent waits for or holds, -1 none"),
    _f("agent_resv", "u1", "N", 0, "reservation state (Resv)"),
    _f("agent_resv_since", "i4", "N", 0, "tick the agent joined the queue or was granted"),
    _f("agent_aff", "i2", "N", -1, "running affordance, -1 none"),
    _f("agent_aff_end", "i4", "N", 0, "tick at which the running affordance completes"),
    _f("agent_aff_paid", "i8", "N", 0, "money paid at start, refunded if it fails (minor units)"),
    _f("agent_q_next", "i4", "N", -1, "next agent in the same queue"),
    _f("agent_q_prev", "i4", "N", -1, "previous agent in the same queue"),
    _f("agent_cool_obj", "i4", "N", -1, "object of the last successful use"),
    _f("agent_cool_until", "i4", "N", 0, "tick until which agent_cool_obj may not be reserved"),
    _f("agent_t_next", "i4", "N", -1, "next agent on the same tile"),
    _f("agent_t_prev", "i4", "N", -1, "previous agent on the same tile"),
    _f("agent_action", "i1", "N", 0, "last action executed"),
    _f("agent_action_ok", "u1", "N", 0, "whether the last action succeeded"),
    _f("agent_flags", "u1", "N", 0, "bit flags (townlet.world.actions.Flag)"),
    _f("agent_possessed_action", "i1", "N", 0, "action an operator set for a possessed agent"),
    _f("agent_shift", "u1", "N", 0, "shift state (townlet.world.actions.Shift)"),
    _f("agent_shift_ticks", "i4", ("N", len(ShiftTicks)), 0, "shift tick counters (ShiftTicks)"),
    _f("agent_lateness", "i4", "N", 0, "shifts started late"),
    _f("agent_absences", "u1", "N", 0, "bit d set: absent d days ago (7-day window)"),
    _f("agent_attendance", "f4", ("N", "W"), 1, "attendance of the last shifts (ring)"),
    _f("agent_wages_today", "i8", "N", 0, "wages earned today (minor units)"),
    _f("agent_withheld", "i8", "N", 0, "wages lost to lateness and absence, lifetime (minor units)"),
    _f("agent_personality", "f4", ("N", len(TRAITS)), 0, "personality traits (TRAITS)"),
    _f("agent_habits", "f4", ("N", len(Habit)), 0, "chronotype, appetite, sociability, "
       "punctuality (Habit)"),
    _f("agent_favourite", "i4", "N", -1, "favourite cafe for company (building; drawn at "
       "arrival, townlet.world.routines), -1: its district's"),
    _f("agent_roster", "i2", ("N", len(Roster)), 0, "shift pattern and first day off (Roster)"),
    _f("agent_today", "i4", ("N", len(Today)), 0, "today's plan: works, leave, quit, bedtime "
       "(Today)"),
    _f("agent_faint_until", "i4", "N", 0, "tick until which the agent lies fainted"),
    _f("agent_neglect", "i2", ("N", len(NEEDS)), 0, "consecutive ticks each need sat at 0 "
       "while nothing restored it, capped at its limit (townlet.world.neglect)"),
    _f("agent_respawn_at", "i4", "N", -1, "tick a newcomer arrives in this empty slot"),
    _f("agent_meet_bld", "i4", "N", -1, "building of an arranged meeting"),
    _f("agent_meet_until", "i4", "N", 0, "tick the arranged meeting ends"),
    _f("agent_born", "i4", "N", 0, "tick the agent arrived"),
    _f("agent_teleported_at", "i4", "N", -1, "tick of the last teleport (the flag lasts one tick)"),
    _f("rel_other", "i4", ("N", "K"), -1, "agent slot of each tie, -1 empty"),
    _f("rel_trust", "f4", ("N", "K"), 0, "trust in [-1, 1]"),
    _f("rel_fam", "f4", ("N", "K"), 0, "familiarity in [0, 1]"),
    _f("rel_riv", "f4", ("N", "K"), 0, "rivalry in [0, 1]"),
    # objects
    _f("obj_type", "i1", "M", -1, "object type (townlet.world.town.OBJ), -1 empty slot"),
    _f("obj_x", "i2", "M", 0, "object tile column"),
    _f("obj_y", "i2", "M", 0, "object tile row"),
    _f("obj_ax", "i2", "M", 0, "access tile column (where users stand)"),
    _f("obj_ay", "i2", "M", 0, "access tile row"),
    _f("obj_holder", "i4", "M", -1, "agent holding the reservation, -1 none"),
    _f("obj_q_head", "i4", "M", -1, "first waiting agent"),
    _f("obj_q_tail", "i4", "M", -1, "last waiting agent"),
    _f("obj_q_len", "i4", "M", 0, "waiting agents"),
    _f("obj_stock", "i4", "M", 0, "stock (shops)"),
    _f("obj_disabled", "u1", "M", 0, "1 when an operator disabled the object"),
    _f("shop_level", "i4", "B", 1000, "shop's demand level, permille of the town price, moved "
       "at each delivery (townlet.world.shops)"),
    _f("shop_markup", "i4", "B", 1000, "price the building charges, permille of the town price: "
       "demand level + scarcity of its stock, bounded (1000 for non-shops)"),
    # buildings, districts, tiles
    _f("bld_kind", "i1", "B", 0, "building kind (townlet.world.town.BLD)"),
    _f("bld_district", "i4", "B", -1, "district of the building"),
    _f("district_grocer", "i4", "D", 0, "grocer building of the district"),
    _f("district_cafe", "i4", "D", 0, "cafe building of the district"),
    _f("district_power", "u1", "D", 1, "1 while the district has power"),
    _f("district_water", "u1", "D", 1, "1 while the district has water"),
    _f("tile_kind", "u1", ("H", "X"), 0, "tile kind (townlet.world.geometry.TILE)"),
    _f("tile_head", "i4", ("H", "X"), -1, "first agent on the tile"),
    # economy and counters
    _f("price_base", "i8", len(PRICES), 0, "configured prices (minor units)"),
    _f("price_now", "i8", len(PRICES), 0, "prices in force: base x active spikes (minor units)"),
    _f("ledger", "i8", len(LEDGER), 0, "money accounts (LEDGER, minor units)"),
    _f("stats", "i8", len(STAT), 0, "cumulative counters (STAT)"),
    _f("econ", "i8", len(Econ), 0, "rent rule state (Econ, money in minor units)"),
    # clock, exits, perturbations
    _f("clock", "i8", 1, 0, "ticks processed"),
    _f("exit_queue", "i4", "N", -1, "agents waiting to leave (FIFO ring, one slot per agent)"),
    _f("exit_meta", "i4", len(ExitMeta), 0, "exit queue cursor and pacing (ExitMeta)"),
    _f("ctl", "i8", len(Ctl), 0, "operator levers (Ctl)"),
    _f("pert_kind", "i1", "P", -1, "active perturbation kind, -1 free slot"),
    _f("pert_spec", "i2", "P", -1, "config spec index, -1 manual"),
    _f("pert_id", "i4", "P", 0, "event id"),
    _f("pert_start", "i4", "P", 0, "start tick"),
    _f("pert_end", "i4", "P", 0, "end tick (exclusive)"),
    _f("pert_target", "i4", "P", -1, "district (outages, meetings) or price index"),
    _f("pert_mag", "f8", "P", 1, "price multiplier"),
    _f("pert_agents", "i4", ("P", 2), -1, "participants of an arranged meeting"),
    _f("pert_spec_cool", "i4", ("S", "D"), 0, "tick until which each spec may not fire in "
       "each district (town-wide kinds: column 0)"),
    _f("pert_last", "i4", "D", 0, "tick the scheduler last started one in each district, 0 "
       "never"),
    _f("pert_meta", "i4", len(PertMeta), 0, "perturbation ids and pacing (PertMeta)"),
    # this tick's events
    _f("evt_code", "i2", "E", 0, "event code (townlet.world.events.EventCode)"),
    _f("evt_agent", "i4", "E", -1, "subject agent"),
    _f("evt_other", "i4", "E", -1, "other agent"),
    _f("evt_obj", "i4", "E", -1, "object, building or perturbation id"),
    _f("evt_value", "f4", "E", 0, "value (amount, reason code, ...)"),
    _f("evt_len", "i4", 1, 0, "events recorded this tick"),
    _f("evt_stale", "u1", 1, 0, "1 once the tick that recorded the events has ended: the "
       "next step or intervention starts a new batch (0: it appends to this one)"),
    # randomness: counter-based streams keyed per run
    _f("rng_key", "u8", len(RNG_STREAMS), 0, "per-stream keys derived from the seed"),
    _f("rng_counter", "u8", len(RNG_STREAMS), 0, "per-stream draw counters"),
)

TOWN_FIELDS = ("tile_kind", "bld_kind", "bld_district", "district_grocer", "district_cafe",
               "obj_type", "obj_x", "obj_y", "obj_ax", "obj_ay", "agent_home", "agent_bed",
               "agent_work", "agent_job", "agent_district")
"""The town's layout: set from the generated town when the world is built and never
written afterwards (no tick, intervention or lever writes them; loading a snapshot
replaces the arrays). Autosaves reference these arrays instead of copying them."""

ROW_FIELDS = tuple(f.name for f in FIELDS if f.dims[0] == "N" and f.name not in TOWN_FIELDS
                   and f.name.startswith(("agent_", "rel_")))
"""The agents' own rows (first dimension N, not the layout): what a pending autosave
copies block by block while the next tick runs (townlet.world.ahead)."""


class Group(IntEnum):
    """Sections a pending autosave copies ahead together, by the first dimension they
    share (townlet.world.ahead)."""

    ROWS = 0
    OBJECTS = 1
    SHOPS = 2
    EXITS = 3
    EVENTS = 4


GROUPS: dict[Group, tuple[str, ...]] = {
    Group.ROWS: ROW_FIELDS,
    Group.OBJECTS: ("obj_stock", "obj_disabled"),  # only interventions write obj_disabled
    Group.SHOPS: ("shop_level", "shop_markup"),
    Group.EXITS: ("exit_queue",),
    Group.EVENTS: ("evt_code", "evt_agent", "evt_other", "evt_obj", "evt_value"),
}
"""The sections a pending autosave copies while the next tick runs, by group (the rest
it copies before the next tick): every write the tick makes to them is preceded by a
check of its block (``guard``, ``guard_in``)."""

AHEAD_FIELDS = tuple(name for names in GROUPS.values() for name in names)

CAPTURE = ("cap_state", "cap_at", "cap_src", "cap_dst", "cap_width", "cap_group", "cap_base",
           "cap_per", "cap_len")
"""Members of ``KernelState`` beyond ``FIELDS``, not state (townlet.world.ahead): a
pending capture's block table, the tick's current block of rows, the AHEAD_FIELDS as
bytes, the frame's as bytes, bytes per entry, and by group: its first section, its first
block, entries per block and entries. Without a capture the table is empty."""

PACKED: dict[str, type[IntEnum]] = {
    "exit_meta": ExitMeta, "ctl": Ctl, "econ": Econ, "pert_meta": PertMeta, "agent_shift_ticks": ShiftTicks}
"""Fields whose last dimension packs named entries, and the enum naming them."""



@structref.register
class KernelStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class KernelState(structref.StructRefProxy):
    """The same arrays as one by-reference struct for the compiled kernel: calls
    pass a single pointer instead of every array descriptor."""


structref.define_proxy(KernelState, KernelStateType, [f.name for f in FIELDS] + list(CAPTURE))


@njit(cache=True)
def _new_kernel_state(*arrays):
    """``KernelState(*arrays)`` compiled once and cached (the proxy's own
    constructor is compiled afresh in every process, which takes seconds)."""
    return KernelState(*arrays)


def row_bytes(arrays) -> tuple[np.ndarray, ...]:
    """Each (C-contiguous) array as a flat view of its bytes."""
    out = []
    for a in arrays:
        if not a.flags.c_contiguous:
            raise ValueError("row_bytes needs C-contiguous arrays")
        out.append(a.reshape(-1).view(np.uint8))
    return tuple(out)


def kernel_state(state: State, capture: tuple | None = None) -> KernelState | State:
    """Wrap the arrays of ``state`` (shared, not copied) for the kernel, with the
    ``CAPTURE`` members ``capture`` (default: none pending); interpreted kernels
    (``NUMBA_DISABLE_JIT=1``) take ``state`` itself."""
    if INTERPRETED:
        return state
    if capture is None:
        rows = row_bytes(getattr(state, name) for name in AHEAD_FIELDS)
        none = np.zeros(len(GROUPS) + 1, np.int64)
        capture = (np.zeros(0, np.int32), np.zeros(1, np.int64), rows, rows,
                   np.zeros(len(rows), np.int64), none, none, none[1:] + 1, none[1:])
    return _new_kernel_state(*state, *capture)


def expected_money(ledger: np.ndarray) -> int:
    """What the wallets of the living must sum to, from the ledger accounts (minor units)."""
    return int(ledger[Ledger.INITIAL] + ledger[Ledger.WAGES] + ledger[Ledger.STARTER_KITS]
               - ledger[Ledger.SPENDING] - ledger[Ledger.PENALTIES] - ledger[Ledger.DEPARTED]
               - ledger[Ledger.RENT])


def pert_slots(max_concurrent: int, districts: int) -> int:
    """Size of the perturbation table: the scheduler's worst case (``max_concurrent`` in
    every district and town-wide) plus :data:`PERT_MANUAL` for operators, so it never
    overflows at any town size."""
    return PERT_MANUAL + max_concurrent * (districts + 1)


def allocate(sizes: dict[str, int]) -> State:
    """Fresh arrays for every field, filled with their defaults."""
    if State._fields != tuple(f.name for f in FIELDS):
        raise RuntimeError("townlet/world/state_tuple.py does not match FIELDS: run "
                           "python -m townlet.world.state_codegen")
    arrays = []
    for f in FIELDS:
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in f.dims)
        arrays.append(np.full(shape, f.fill, dtype=np.dtype(f.dtype)))
    return State(*arrays)


def state_from(sections: dict[str, np.ndarray], like: State) -> State:
    """Validate ``sections`` against ``like`` (names, dtypes, shapes) and copy them in."""
    missing = [f.name for f in FIELDS if f.name not in sections]
    extra = sorted(set(sections) - set(State._fields))
    if missing or extra:
        raise ValueError(f"state sections mismatch: missing {missing}, unexpected {extra}")
    arrays = []
    for f in FIELDS:
        current, new = getattr(like, f.name), np.asarray(sections[f.name])
        if new.dtype != current.dtype or new.shape != current.shape:
            raise ValueError(f"state section {f.name!r}: expected {current.dtype}{current.shape}, "
                             f"got {new.dtype}{new.shape}")
        arrays.append(np.array(new, copy=True))
    return State(*arrays)


def frame_vocab() -> dict[str, list[str]]:
    """Names of the coded values of frame columns (index = code, "" for an unused code)
    and of the entries of ``agent_needs``, ``price_now`` and ``stats``: the frame
    schema's ``vocab``, so clients that never import the world name them as it does."""
    from townlet.world.actions import Action, Goal, Shift  # below state: import on use
    from townlet.world.events import EventCode

    def names(enum: type[IntEnum]) -> list[str]:
        out = [""] * (max(enum) + 1)
        for member in enum:
            if member >= 0:
                out[member] = member.name.lower()
        return out

    return {"agent_goal": names(Goal), "agent_shift": names(Shift),
            "agent_action": names(Action), "code": names(EventCode), "stats": list(STAT),
            "agent_needs": list(NEEDS), "price_now": list(PRICES),
            "obj_type": list(OBJECT_TYPES), "pert_kind": list(PERTURBATION_KINDS)}
