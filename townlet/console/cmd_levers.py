"""Admin levers over the town's mechanics (SPEC/ops.md: price, force_chat, set_rel,
employment_exit, toggle_mortality, set_exit_cap, set_spawn_delay). Each runs a
:class:`townlet.world.levers.Levers` method, which raises typed errors on bad input."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from townlet.config.money import to_units
from townlet.console.cmd_agents import AgentId
from townlet.console.context import CommandContext
from townlet.world.levers import MAX_DELAY, MAX_PRICE
from townlet.world.state import PRICES

__all__ = ["employment_exit", "force_chat", "set_exit_cap", "set_price", "set_relationship",
           "set_spawn_delay", "toggle_mortality"]

Fraction = Annotated[float, Meta(ge=0.0, le=1.0)]


class PriceArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: Literal[PRICES[1:]]  # type: ignore[valid-type]
    value: Annotated[float, Meta(ge=0.0, le=MAX_PRICE)]
    """New base price in units of money (active price spikes still multiply it)."""


class PriceResult(msgspec.Struct):
    name: str
    base: float
    now: float


def set_price(ctx: CommandContext, p: PriceArgs) -> PriceResult:
    """Set the base price of groceries, cafe meals or showers."""
    now = ctx.world.set_price(p.name, p.value)
    k = PRICES.index(p.name)
    return PriceResult(p.name, to_units(int(ctx.world.view("price_base")[k])), to_units(now))


class Tie(msgspec.Struct):
    trust: float
    familiarity: float
    rivalry: float


def _tie(ctx: CommandContext, a: int, b: int) -> Tie:
    return Tie(*(round(v, 6) for v in ctx.world.tie(a, b)))


class ChatArgs(msgspec.Struct, forbid_unknown_fields=True):
    speaker: AgentId
    listener: AgentId
    quality: Fraction = 1.0
    """Scales the chat's social, trust and familiarity gains."""


class ChatResult(msgspec.Struct):
    speaker: int
    listener: int
    quality: float
    speaker_tie: Tie
    listener_tie: Tie


def force_chat(ctx: CommandContext, p: ChatArgs) -> ChatResult:
    """Record a successful chat between two agents, wherever they stand."""
    ctx.world.force_chat(p.speaker, p.listener, p.quality)
    return ChatResult(p.speaker, p.listener, p.quality, _tie(ctx, p.speaker, p.listener),
                      _tie(ctx, p.listener, p.speaker))


class RelArgs(msgspec.Struct, forbid_unknown_fields=True):
    a: AgentId
    b: AgentId
    trust: Annotated[float, Meta(ge=-1.0, le=1.0)]
    familiarity: Fraction
    rivalry: Fraction


class RelResult(msgspec.Struct):
    a: int
    b: int
    tie: Tie


def set_relationship(ctx: CommandContext, p: RelArgs) -> RelResult:
    """Set the tie between two agents (both directions)."""
    ctx.world.set_relationship(p.a, p.b, p.trust, p.familiarity, p.rivalry)
    return RelResult(p.a, p.b, _tie(ctx, p.a, p.b))


class ExitArgs(msgspec.Struct, forbid_unknown_fields=True):
    agent: AgentId


class ExitResult(msgspec.Struct):
    agent: int
    place: int
    """Place in the exit queue; the agent leaves when the exit cap and spacing allow."""


def employment_exit(ctx: CommandContext, p: ExitArgs) -> ExitResult:
    """Put an agent in the employment exit queue."""
    return ExitResult(p.agent, ctx.world.employment_exit(p.agent))


class Levers(msgspec.Struct):
    exit_cap: int
    """Employment exits per district per day (0 = unlimited)."""
    spawn_delay: int
    """Ticks from a removal to the newcomer's arrival."""
    mortality: bool
    """Whether sustained starvation kills."""


def _levers(ctx: CommandContext) -> Levers:
    v = ctx.world.levers()
    return Levers(v["exit_cap"], v["spawn_delay"], bool(v["mortality"]))


class MortalityArgs(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


def toggle_mortality(ctx: CommandContext, p: MortalityArgs) -> Levers:
    """Turn death by starvation on or off (off: starving agents only faint)."""
    ctx.world.set_mortality(p.enabled)
    return _levers(ctx)


class ExitCapArgs(msgspec.Struct, forbid_unknown_fields=True):
    per_district: Annotated[int, Meta(ge=0, le=1_000_000)]
    """Exits per district per day; 0 = unlimited."""


def set_exit_cap(ctx: CommandContext, p: ExitCapArgs) -> Levers:
    """Set the daily employment exit cap (per district)."""
    ctx.world.set_exit_cap(p.per_district)
    return _levers(ctx)


class DelayArgs(msgspec.Struct, forbid_unknown_fields=True):
    ticks: Annotated[int, Meta(ge=0, le=MAX_DELAY)]


def set_spawn_delay(ctx: CommandContext, p: DelayArgs) -> Levers:
    """Set the ticks from a death or exit to the newcomer's arrival."""
    ctx.world.set_spawn_delay(p.ticks)
    return _levers(ctx)
