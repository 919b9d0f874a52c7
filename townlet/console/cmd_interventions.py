"""Operator interventions: each goes through the World API, which validates and raises
typed errors (E_NOT_FOUND, E_BLOCKED_TILE, E_ALREADY_POSSESSED, ...)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from townlet.console.cmd_agents import AgentId
from townlet.console.context import CommandContext
from townlet.console.errors import CommandError
from townlet.world.actions import N_ACTIONS, Action
from townlet.world.params import PERT_KINDS
from townlet.world.state import NEEDS

__all__ = ["act", "cancel_perturbation", "kill", "perturb", "possess", "release", "set_need",
           "set_object", "spawn", "teleport"]

Coord = Annotated[int, Meta(ge=0, le=32767)]


class AgentResult(msgspec.Struct):
    agent: int
    done: str


class SpawnArgs(msgspec.Struct, forbid_unknown_fields=True):
    x: Coord | None = None
    """Tile column (default: the newcomer's home door)."""
    y: Coord | None = None
    """Tile row."""


class Spawned(msgspec.Struct):
    agent: int
    x: int
    y: int


def spawn(ctx: CommandContext, p: SpawnArgs) -> Spawned:
    """Create an agent in the first free slot, at x,y or at its home."""
    if (p.x is None) != (p.y is None):
        raise CommandError("E_USAGE", "give both x and y, or neither")
    w = ctx.world
    i = w.spawn(p.x, p.y)
    return Spawned(agent=i, x=int(w.view("agent_x")[i]), y=int(w.view("agent_y")[i]))


class AgentArgs(msgspec.Struct, forbid_unknown_fields=True):
    agent: AgentId
    """Agent slot."""


def kill(ctx: CommandContext, p: AgentArgs) -> AgentResult:
    """Remove an agent for good (its slot stays empty until a spawn)."""
    ctx.world.kill(p.agent)
    return AgentResult(p.agent, "killed")


class TeleportArgs(msgspec.Struct, forbid_unknown_fields=True):
    agent: AgentId
    x: Coord
    y: Coord


def teleport(ctx: CommandContext, p: TeleportArgs) -> Spawned:
    """Move an agent to a walkable tile (it leaves queues and drops what it holds)."""
    ctx.world.teleport(p.agent, p.x, p.y)
    return Spawned(agent=p.agent, x=p.x, y=p.y)


class NeedArgs(msgspec.Struct, forbid_unknown_fields=True):
    agent: AgentId
    need: Literal[NEEDS]  # type: ignore[valid-type]
    value: Annotated[float, Meta(ge=0.0, le=1.0)]


class NeedResult(msgspec.Struct):
    agent: int
    need: str
    value: float


def set_need(ctx: CommandContext, p: NeedArgs) -> NeedResult:
    """Set one need of an agent to a value in [0, 1]."""
    ctx.world.set_need(p.agent, p.need, p.value)
    v = float(ctx.world.view("agent_needs")[p.agent, NEEDS.index(p.need)])
    return NeedResult(p.agent, p.need, round(v, 6))


def possess(ctx: CommandContext, p: AgentArgs) -> AgentResult:
    """Take manual control of an agent (it waits until you 'act')."""
    ctx.world.possess(p.agent)
    return AgentResult(p.agent, "possessed")


def release(ctx: CommandContext, p: AgentArgs) -> AgentResult:
    """Hand a possessed agent back to its policy."""
    ctx.world.release(p.agent)
    return AgentResult(p.agent, "released")


class ActArgs(msgspec.Struct, forbid_unknown_fields=True):
    agent: AgentId
    action: int | str
    """Action code or name (wait, move_n, move_e, move_s, move_w, interact, talk, cancel,
    go_eat, ...)."""


class ActResult(msgspec.Struct):
    agent: int
    action: str


_ACTIONS = {a.name.lower(): int(a) for a in Action if a >= 0}


def act(ctx: CommandContext, p: ActArgs) -> ActResult:
    """Set the action a possessed agent takes on the next ticks."""
    code = _ACTIONS.get(p.action.lower()) if isinstance(p.action, str) else p.action
    if code is None or not 0 <= code < N_ACTIONS:
        raise CommandError("E_INVALID_ARG", f"unknown action {p.action!r} "
                           f"(known: {', '.join(_ACTIONS)})")
    ctx.world.set_possessed_action(p.agent, code)
    return ActResult(p.agent, Action(code).name.lower())


class ObjectArgs(msgspec.Struct, forbid_unknown_fields=True):
    obj: Annotated[int, Meta(ge=0)]
    enabled: bool


class ObjectResult(msgspec.Struct):
    obj: int
    enabled: bool


def set_object(ctx: CommandContext, p: ObjectArgs) -> ObjectResult:
    """Disable (a running use fails gracefully) or re-enable an object."""
    ctx.world.set_object_enabled(p.obj, p.enabled)
    return ObjectResult(p.obj, not bool(ctx.world.view("obj_disabled")[p.obj]))


class PerturbArgs(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal[PERT_KINDS]  # type: ignore[valid-type]
    duration: Annotated[int, Meta(ge=1, le=10_000_000)]
    """Ticks it lasts."""
    magnitude: Annotated[float, Meta(ge=0.0, le=100.0)] | None = None
    """Price multiplier (price_spike)."""
    target: int | str | None = None
    """price_spike: a price name or 'all'; blackout/outage/arranged_meet: a district index."""


class PerturbResult(msgspec.Struct):
    event_id: int
    kind: str


def perturb(ctx: CommandContext, p: PerturbArgs) -> PerturbResult:
    """Start a price spike, blackout, outage or arranged meeting now."""
    eid = ctx.world.perturb(p.kind, p.duration, p.magnitude, p.target)
    return PerturbResult(event_id=eid, kind=p.kind)


class CancelArgs(msgspec.Struct, forbid_unknown_fields=True):
    event_id: Annotated[int, Meta(ge=0)]


class CancelResult(msgspec.Struct):
    event_id: int
    cancelled: bool


def cancel_perturbation(ctx: CommandContext, p: CancelArgs) -> CancelResult:
    """End an active perturbation now (its effect is undone exactly)."""
    ctx.world.cancel_perturbation(p.event_id)
    return CancelResult(p.event_id, True)
