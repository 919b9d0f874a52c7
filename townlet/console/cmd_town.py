"""Read-only views of the town: queues, economy, recent events, perturbations."""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np
from msgspec import Meta

from townlet.config.money import to_units
from townlet.console.context import CommandContext
from townlet.console.errors import CommandError
from townlet.world.economy import treasury
from townlet.world.events import EventCode
from townlet.world.params import PERT_KINDS
from townlet.world.state import LEDGER, PRICES, STAT, Econ
from townlet.world.town import OBJ_NAMES

__all__ = ["economy", "events", "perturbations", "queues"]


class QueuesArgs(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=1000)] = 20
    """Objects to return, longest queue first."""
    min_len: Annotated[int, Meta(ge=0)] = 1
    """Only objects with at least this many waiting agents."""


class QueueRow(msgspec.Struct):
    obj: int
    type: str
    x: int
    y: int
    holder: int
    waiting: int
    disabled: bool


class QueuesResult(msgspec.Struct):
    total_waiting: int
    objects_with_queue: int
    rows: list[QueueRow]


def queues(ctx: CommandContext, p: QueuesArgs) -> QueuesResult:
    """Objects with the longest queues (holder, waiting count, disabled)."""
    w = ctx.world
    qlen = w.view("obj_q_len")
    typ = w.view("obj_type")
    idx = np.flatnonzero((qlen >= p.min_len) & (typ >= 0))
    idx = idx[np.argsort(-qlen[idx], kind="stable")][:p.limit]
    ox, oy = w.view("obj_x")[idx].tolist(), w.view("obj_y")[idx].tolist()
    hold, dis = w.view("obj_holder")[idx].tolist(), w.view("obj_disabled")[idx].tolist()
    rows = [QueueRow(int(o), OBJ_NAMES[int(typ[o])], ox[k], oy[k], hold[k], int(qlen[o]),
                     bool(dis[k])) for k, o in enumerate(idx.tolist())]
    return QueuesResult(total_waiting=int(qlen.sum()),
                        objects_with_queue=int(np.count_nonzero(qlen > 0)), rows=rows)


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    """No arguments."""


class Economy(msgspec.Struct):
    prices: dict[str, float]
    """Prices in force (base x active spikes)."""
    base_prices: dict[str, float]
    ledger: dict[str, float]
    """Money accounts; sum of wallets = initial + wages + starter_kits - spending - penalties
    - departed - rent."""
    treasury: float
    """The town's balance: endowment + spending + penalties + departed + rent - wages
    - starter_kits (wallets + treasury never change)."""
    rent_due: float
    """What today's rent raises, shared out in proportion to agents' savings."""
    wallets: dict[str, float]
    """sum, mean, min, max over living agents."""
    stats: dict[str, int]


def economy(ctx: CommandContext, p: NoArgs) -> Economy:
    """Prices, money ledger, wallet statistics and cumulative counters."""
    w = ctx.world
    alive = w.alive
    wal = to_units(w.view("agent_wallet")[alive])
    stats = {"sum": 0.0, "mean": 0.0, "min": 0.0, "max": 0.0}
    if wal.size:
        stats = {"sum": float(wal.sum()), "mean": float(wal.mean()), "min": float(wal.min()),
                 "max": float(wal.max())}
    return Economy(
        prices=dict(zip(PRICES[1:], to_units(w.view("price_now")[1:]).tolist())),
        base_prices=dict(zip(PRICES[1:], to_units(w.view("price_base")[1:]).tolist())),
        ledger=dict(zip(LEDGER, to_units(w.view("ledger")).tolist())),
        treasury=to_units(int(treasury(w.view("ledger")))),
        rent_due=to_units(int(w.view("econ")[Econ.DUE])),
        wallets={k: round(v, 6) for k, v in stats.items()},
        stats=dict(zip(STAT, w.view("stats").tolist())))


class EventsArgs(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=5000)] = 50
    """Newest events to return."""
    code: str | None = None
    """Only this event kind (e.g. ``agent_died``)."""
    agent: Annotated[int, Meta(ge=0)] | None = None
    """Only events whose subject or other agent is this slot."""


class EventRow(msgspec.Struct, array_like=True):
    tick: int
    code: str
    agent: int
    other: int
    obj: int
    value: float


class EventsResult(msgspec.Struct):
    columns: list[str]
    rows: list[EventRow]


_CODES = {c.name.lower(): int(c) for c in EventCode}
_NAMES = {v: k for k, v in _CODES.items()}


def events(ctx: CommandContext, p: EventsArgs) -> EventsResult:
    """Recent world events, oldest first (filter by kind or agent)."""
    ev = ctx.events.recent(ctx.events.capacity)
    if p.code is not None:
        if p.code not in _CODES:
            raise CommandError("E_INVALID_ARG", f"unknown event code {p.code!r}")
        ev = ev[ev["code"] == _CODES[p.code]]
    if p.agent is not None and ev.size:
        ev = ev[(ev["agent"] == p.agent) | (ev["other"] == p.agent)]
    ev = ev[-p.limit:]
    rows = [EventRow(int(t), _NAMES.get(int(c), str(int(c))), int(a), int(o), int(b),
                     round(float(v), 6))
            for t, c, a, o, b, v in zip(ev["tick"].tolist(), ev["code"].tolist(),
                                        ev["agent"].tolist(), ev["other"].tolist(),
                                        ev["obj"].tolist(), ev["value"].tolist())] \
        if ev.size else []
    return EventsResult(columns=list(EventRow.__struct_fields__), rows=rows)


class PerturbationRow(msgspec.Struct):
    event_id: int
    kind: str
    start: int
    end: int
    target: int
    magnitude: float
    manual: bool


def perturbations(ctx: CommandContext, p: NoArgs) -> list[PerturbationRow]:
    """Active perturbations (price spikes, blackouts, outages, arranged meetings)."""
    w = ctx.world
    kind = w.view("pert_kind")
    out = []
    for slot in np.flatnonzero(kind >= 0).tolist():
        out.append(PerturbationRow(
            event_id=int(w.view("pert_id")[slot]), kind=PERT_KINDS[int(kind[slot])],
            start=int(w.view("pert_start")[slot]), end=int(w.view("pert_end")[slot]),
            target=int(w.view("pert_target")[slot]), magnitude=float(w.view("pert_mag")[slot]),
            manual=int(w.view("pert_spec")[slot]) < 0))
    return sorted(out, key=lambda r: r.event_id)
