"""The registered schema migrations (imported by :mod:`townlet.snapshots.migrations`).

Schema 1 kept one signed score per relationship tie, ``rel_value`` (N, K) float32 in
[-1, 1], as upstream Townlet's ledger did before it grew familiarity and rivalry.
Schema 2 splits a tie into ``rel_trust``, ``rel_fam`` and ``rel_riv``. The step follows the
rule upstream used for legacy ledgers: the old score becomes trust, and familiarity and
rivalry start at zero (they rebuild from interactions after the load).

Schema 3 adds ``evt_stale``, the flag saying whether the recorded events are a finished
tick's (so the next step starts a new batch) or still open (an intervention after the last
step: the next step appends to them). Schema 2 loads always started a new batch, which is
what the step writes.

Schema 4 keeps money in integer minor units (``townlet.config.money``): wallets, prices,
wages, refunds and the ledger become int64. Each amount is rounded to the nearest minor
unit; the float era's accumulated rounding error is booked to the ``initial`` account, so
the ledger identity holds exactly from the first tick after the load.

Schema 5 sizes the exit queue by the population (one slot per agent, so it never
overflows), adds the batch counter to ``exit_meta`` (exits scale per district) and adds
``ctl``, the operator levers; the step reads their starting values from the config the
snapshot was written under (its header), or the defaults if the header has none.

Schema 6 adds individual routines (issue 18): ``agent_habits``, ``agent_roster`` and
``agent_today``. Agents saved before them have none, so the step writes empty rows marked
unplanned (``Today.WORKS`` = -1): on the first tick after the load the kernel draws each
living agent's habits and roster as on arrival and plans its day
(``townlet.world.routines``), from the world stream of the snapshot's own seed.

Schema 7 closes the economy (townlet.world.economy): the ledger gains ``rent`` and
``endowment`` and the state ``econ``. The endowment is booked so that the treasury starts
at its reserve target (from the header's config, or the defaults), as in a new town.

Schema 8 gives needs consequences (townlet.world.neglect): ``agent_starving`` (ticks at
hunger 0) becomes the hunger column of ``agent_neglect``, which counts the ticks each need
sits at 0 (the other needs start at 0: their effects begin after their full time), and
``stats`` gains the counters ``NEGLECT_STATS``. ``agent_favourite`` (the favourite cafe, drawn
at arrival) is -1 for agents saved before it: they keep to their district's cafe, and
their slot's next newcomer draws one. The exit ring keeps only the agents still
waiting (alive and flagged EXIT_PENDING, once each): a schema 7 town kept the slot of an
agent that died or was killed while waiting.

Schema 8 also adds shops whose prices follow stock and demand (townlet.world.shops):
``shop_level`` and ``shop_markup`` per building, both at the town price (1000 permille) as
in a new town (the next sale or delivery reprices a shop from its stock), and the
``sold_out`` counter after the neglect counters, starting at 0. The perturbation table
grows from 16 slots to ``pert_slots(max_concurrent, districts)`` (the scheduler draws in
every district; free slots appended), the spec cooldowns gain a district column each
(the town-wide cooldown copied to every district) and ``pert_last`` starts at the
snapshot's last scheduled tick in every district.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import numpy as np

from townlet.config.money import MINOR_PER_UNIT
from townlet.snapshots.errors import SnapshotStateError
from townlet.snapshots.format import SnapshotHeader
from townlet.snapshots.migrations import Sections, register

__all__ = ["NEGLECT_STATS", "ROUTINE_SECTIONS", "SCHEMA7_PERT_SLOTS", "SHOP_STATS",
           "add_event_batch_flag",
           "add_levers_and_scale_exits", "add_needs_with_consequences", "add_routines",
           "add_treasury_and_rent", "money_to_minor_units", "split_relationship_score"]

MONEY_SECTIONS = ("agent_wallet", "agent_aff_paid", "agent_wages_today", "agent_withheld",
                  "price_base", "price_now", "ledger")
"""The sections schema 4 turned from float units into int64 minor units."""
ROUTINE_SECTIONS = ("agent_habits", "agent_roster", "agent_today")
"""The sections schema 5 added."""
NEGLECT_STATS = ("collapses", "unkempt", "lonely", "soured_chats", "low_mood_ticks")
"""The needs counters schema 8 appended to ``stats``."""
SHOP_STATS = ("sold_out",)
"""The shop counters schema 8 appended to ``stats`` (after :data:`NEGLECT_STATS`)."""
SCHEMA7_PERT_SLOTS = 16
"""Slots of the perturbation table up to schema 7 (town-wide, fixed)."""


@register(1, "split rel_value into rel_trust, rel_fam, rel_riv (old score read as trust)")
def split_relationship_score(old: Mapping[str, np.ndarray], header: SnapshotHeader) -> Sections:
    """Schema 1 -> 2: one relationship score per tie becomes trust/familiarity/rivalry."""
    for name in ("rel_other", "rel_value"):
        if name not in old:
            raise SnapshotStateError(name, "missing from a schema 1 snapshot")
    for name in ("rel_trust", "rel_fam", "rel_riv"):
        if name in old:
            raise SnapshotStateError(name, "already present in a schema 1 snapshot")
    value, other = old["rel_value"], old["rel_other"]
    if value.dtype != np.float32 or value.shape != other.shape:
        raise SnapshotStateError(
            "rel_value", f"expected float32{other.shape}, got {value.dtype}{value.shape}"
        )
    tie = other >= 0
    new = {k: v for k, v in old.items() if k != "rel_value"}
    new["rel_trust"] = np.where(tie, np.clip(value, -1.0, 1.0), 0.0).astype(np.float32)
    new["rel_fam"] = np.zeros(value.shape, np.float32)
    new["rel_riv"] = np.zeros(value.shape, np.float32)
    return new


@register(2, "add evt_stale (events of a finished tick: the next step starts a new batch)")
def add_event_batch_flag(old: Mapping[str, np.ndarray], header: SnapshotHeader) -> Sections:
    """Schema 2 -> 3: the pending event batch becomes part of the state."""
    if "evt_stale" in old:
        raise SnapshotStateError("evt_stale", "already present in a schema 2 snapshot")
    return {**old, "evt_stale": np.ones(1, np.uint8)}


@register(3, "money in int64 minor units (wallets, prices, wages, ledger; residue to initial)")
def money_to_minor_units(old: Mapping[str, np.ndarray], header: SnapshotHeader) -> Sections:
    """Schema 3 -> 4: float money becomes exact integer minor units."""
    new = dict(old)
    for name in MONEY_SECTIONS:
        if name not in old:
            continue
        value = old[name]
        if value.dtype.kind != "f":
            raise SnapshotStateError(name, f"expected float money in schema 3, got {value.dtype}")
        if not np.isfinite(value).all():
            raise SnapshotStateError(name, "NaN or infinity")
        new[name] = np.rint(value.astype(np.float64) * MINOR_PER_UNIT).astype(np.int64)
    if {"ledger", "agent_wallet", "agent_alive"} <= new.keys():
        from townlet.world.state import Ledger

        ledger = new["ledger"]
        held = int(new["agent_wallet"][new["agent_alive"] != 0].sum())
        flows = int(ledger[Ledger.WAGES] + ledger[Ledger.STARTER_KITS] - ledger[Ledger.SPENDING]
                    - ledger[Ledger.PENALTIES] - ledger[Ledger.DEPARTED])
        ledger[Ledger.INITIAL] = held - flows
    return new


@register(4, "exit queue with a slot per agent, exit batches per district, operator levers (ctl)")
def add_levers_and_scale_exits(old: Mapping[str, np.ndarray],
                               header: SnapshotHeader) -> Sections:
    """Schema 4 -> 5: the 64-slot exit ring becomes an N-slot one (its waiting agents in
    order from slot 0), ``exit_meta`` gains BATCH, and ``ctl`` holds the levers."""
    from townlet.config.world import EmploymentConfig, LifecycleConfig
    from townlet.world.state import Ctl

    if "ctl" in old:
        raise SnapshotStateError("ctl", "already present in a schema 4 snapshot")
    new = dict(old)
    if {"exit_queue", "exit_meta", "agent_alive"} <= old.keys():
        new["exit_queue"], new["exit_meta"] = _scaled_exits(
            old["exit_queue"], old["exit_meta"], old["agent_alive"].shape[0])
    world = _header_world(header)
    cap = world.get("employment", {}).get("daily_exit_cap", EmploymentConfig().daily_exit_cap)
    delay = world.get("lifecycle", {}).get("respawn_delay_ticks",
                                           LifecycleConfig().respawn_delay_ticks)
    ctl = np.zeros(len(Ctl), np.int64)
    ctl[Ctl.EXIT_CAP], ctl[Ctl.RESPAWN_DELAY], ctl[Ctl.MORTALITY] = cap, delay, 1
    new["ctl"] = ctl
    return new


def _scaled_exits(ring: np.ndarray, meta: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The schema 4 exit ring and cursor as schema 5's: waiting agents in order from slot 0."""
    from townlet.world.state import ExitMeta

    if meta.shape != (4,) or ring.ndim != 1 or ring.size == 0:
        raise SnapshotStateError("exit_meta", f"expected int32(4,), got {meta.dtype}{meta.shape}")
    head, length = int(meta[ExitMeta.HEAD]), int(meta[ExitMeta.LENGTH])
    if not (0 <= head < ring.size and 0 <= length <= min(ring.size, n)):
        raise SnapshotStateError("exit_meta", f"head {head} / length {length} outside the ring")
    queue = np.full(n, -1, np.int32)
    queue[:length] = ring[(head + np.arange(length)) % ring.size]
    new_meta = np.zeros(len(ExitMeta), np.int32)
    new_meta[:4] = meta
    new_meta[ExitMeta.HEAD] = 0
    new_meta[ExitMeta.BATCH] = int(meta[ExitMeta.LAST_TICK] > 0)
    return queue, new_meta


@register(5, "add agent_habits, agent_roster, agent_today (drawn on the first tick)")
def add_routines(old: Mapping[str, np.ndarray], header: SnapshotHeader) -> Sections:
    """Schema 5 -> 6: empty routines, marked unplanned so the kernel draws them."""
    from townlet.world.state import FIELDS, UNPLANNED, Today

    new = dict(old)
    if "agent_alive" not in old:  # a partial section set (the agent count is unknown)
        return new
    n = old["agent_alive"].shape[0]
    for field in FIELDS:
        if field.name in ROUTINE_SECTIONS:
            if field.name in old:
                raise SnapshotStateError(field.name, "already present in a schema 5 snapshot")
            new[field.name] = np.zeros((n, *field.dims[1:]), np.dtype(field.dtype))
    new["agent_today"][:, Today.WORKS] = UNPLANNED
    return new


def _header_world(header: SnapshotHeader) -> dict:
    """The ``world`` section of the config the snapshot was written under ({} if unknown)."""
    world = msgspec.json.decode(header.config) if header.config else {}
    return world.get("world", world)


@register(6, "closed economy: ledger gains rent and endowment (treasury at its reserve), econ")
def add_treasury_and_rent(old: Mapping[str, np.ndarray], header: SnapshotHeader) -> Sections:
    """Schema 6 -> 7: the town treasury and the rent rule's state."""
    from townlet.config.money import to_minor
    from townlet.config.world import EconomyConfig
    from townlet.world.state import Econ, Ledger

    if "econ" in old:
        raise SnapshotStateError("econ", "already present in a schema 6 snapshot")
    new = dict(old)
    econ = np.zeros(len(Econ), np.int64)
    if {"ledger", "agent_alive"} <= old.keys():
        ledger = old["ledger"]
        if ledger.shape != (6,) or ledger.dtype != np.int64:
            raise SnapshotStateError("ledger", f"expected int64(6,), got {ledger.dtype}"
                                     f"{ledger.shape}")
        per_agent = _header_world(header).get("economy", {}).get(
            "treasury_per_agent", EconomyConfig().treasury_per_agent)
        target = to_minor(per_agent) * old["agent_alive"].shape[0]
        grown = np.zeros(8, np.int64)
        grown[:6] = ledger
        grown[Ledger.ENDOWMENT] = target - int(
            ledger[Ledger.SPENDING] + ledger[Ledger.PENALTIES] + ledger[Ledger.DEPARTED]
            - ledger[Ledger.WAGES] - ledger[Ledger.STARTER_KITS])
        new["ledger"] = grown
    new["econ"] = econ
    return new


@register(7, "needs with consequences: agent_neglect (from agent_starving), neglect stats, "
             "agent_favourite, exit ring without removed agents; shops: shop_level and "
             "shop_markup at the town price, sold_out; perturbation table sized per district")
def add_needs_with_consequences(old: Mapping[str, np.ndarray],
                                header: SnapshotHeader) -> Sections:
    """Schema 7 -> 8: ticks at 0 per need, the neglect counters, a clean exit ring; every
    shop at the town price; the perturbation table and cooldowns per district."""
    from townlet.world.actions import Flag
    from townlet.world.params import PERMILLE
    from townlet.world.state import NEEDS, ExitMeta, Need

    for name in ("agent_neglect", "agent_favourite", "shop_level", "shop_markup", "pert_last"):
        if name in old:
            raise SnapshotStateError(name, "already present in a schema 7 snapshot")
    new = {k: v for k, v in old.items() if k != "agent_starving"}
    if "agent_alive" in old:
        new["agent_favourite"] = np.full(old["agent_alive"].shape[0], -1, np.int32)
    if "agent_starving" in old:
        starving = old["agent_starving"]
        if starving.dtype != np.int16 or starving.ndim != 1:
            raise SnapshotStateError("agent_starving", f"expected int16 (N,), got "
                                     f"{starving.dtype}{starving.shape}")
        neglect = np.zeros((starving.shape[0], len(NEEDS)), np.int16)
        neglect[:, Need.HUNGER] = starving
        new["agent_neglect"] = neglect
    if "stats" in old:
        new["stats"] = np.concatenate([old["stats"], np.zeros(len(NEGLECT_STATS)
                                                             + len(SHOP_STATS), np.int64)])
    if "bld_kind" in old:
        for name in ("shop_level", "shop_markup"):
            new[name] = np.full(old["bld_kind"].shape[0], PERMILLE, np.int32)
    if "district_power" in old:
        new.update(_scaled_perturbations(old, header, old["district_power"].shape[0]))
    if {"exit_queue", "exit_meta", "agent_alive", "agent_flags"} <= old.keys():
        ring, meta = old["exit_queue"], old["exit_meta"].copy()
        head, length = int(meta[ExitMeta.HEAD]), int(meta[ExitMeta.LENGTH])
        waiting = (old["agent_alive"] != 0) & (old["agent_flags"] & Flag.EXIT_PENDING != 0)
        kept: list[int] = []
        for k in range(length):
            i = int(ring[(head + k) % ring.size])
            if 0 <= i < waiting.size and waiting[i]:
                kept.append(i)
                waiting[i] = False  # once each
        queue = np.full(ring.shape, -1, ring.dtype)
        queue[:len(kept)] = kept
        meta[ExitMeta.HEAD], meta[ExitMeta.LENGTH] = 0, len(kept)
        new["exit_queue"], new["exit_meta"] = queue, meta
    return new


def _scaled_perturbations(old: Mapping[str, np.ndarray], header: SnapshotHeader,
                          districts: int) -> Sections:
    """Schema 7's 16-slot perturbation table and per-spec cooldowns, grown per district."""
    from townlet.config.world import PerturbationsConfig
    from townlet.world.state import FIELDS, PertMeta, pert_slots

    cap = _header_world(header).get("perturbations", {}).get(
        "max_concurrent", PerturbationsConfig().max_concurrent)
    slots = pert_slots(cap, districts)
    new: Sections = {}
    for field in FIELDS:
        if not field.name.startswith("pert_") or field.dims[0] != "P" or field.name not in old:
            continue
        table = old[field.name]
        if table.shape[0] != SCHEMA7_PERT_SLOTS or table.dtype != np.dtype(field.dtype):
            raise SnapshotStateError(field.name, f"expected {field.dtype}({SCHEMA7_PERT_SLOTS}"
                                     f", ...), got {table.dtype}{table.shape}")
        grown = np.full((slots, *table.shape[1:]), field.fill, table.dtype)
        grown[:SCHEMA7_PERT_SLOTS] = table
        new[field.name] = grown
    if "pert_spec_cool" in old:
        new["pert_spec_cool"] = np.repeat(old["pert_spec_cool"][:, None], districts, axis=1)
    last = int(old["pert_meta"][PertMeta.LAST_SCHEDULED]) if "pert_meta" in old else 0
    new["pert_last"] = np.full(districts, last, np.int32)
    return new
