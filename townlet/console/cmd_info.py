"""Read-only facts about the console, the caller, the run and the policy."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from townlet.console.context import CommandContext, PolicyInfo
from townlet.security.roles import role_allows

__all__ = ["health", "help_", "policy_info", "status", "whoami"]


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    """No arguments."""


class HelpArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    """Show only this command."""


class CommandHelp(msgspec.Struct):
    name: str
    role: str
    usage: str
    summary: str
    allowed: bool
    """Whether the caller's role may run it."""
    mutates: bool


class HelpResult(msgspec.Struct):
    role: str
    commands: list[CommandHelp]


def help_(ctx: CommandContext, p: HelpArgs) -> HelpResult:
    """List commands with their role, usage and whether you may run them."""
    from townlet.console.errors import CommandError

    rows = list(ctx.table.values())
    if p.name is not None:
        if p.name not in ctx.table:
            raise CommandError("E_NOT_FOUND", f"no command {p.name!r}")
        rows = [ctx.table[p.name]]
    role = ctx.principal.role
    return HelpResult(role=role, commands=[
        CommandHelp(name=c.name, role=c.role, usage=c.usage(), summary=c.summary,
                    allowed=role_allows(role, c.role), mutates=c.mutates) for c in rows])


def health(ctx: CommandContext, p: NoArgs) -> Any:
    """Console server health: queue, tick progress, refusals, registry state."""
    return ctx.health()


class WhoAmI(msgspec.Struct):
    identity: str
    key_id: str
    role: str


def whoami(ctx: CommandContext, p: NoArgs) -> WhoAmI:
    """Your identity, key id and role as the server sees them."""
    pr = ctx.principal
    return WhoAmI(identity=pr.identity, key_id=pr.key_id, role=pr.role)


class Status(msgspec.Struct):
    tick: int
    population: int
    capacity: int
    ticks_per_s: float
    config_id: str
    paused: bool
    target_tps: float
    """0 = as fast as possible."""
    services: dict[str, str] = {}
    """State of each service beside the town (e.g. ``publisher: up``); details in ``health``."""


def status(ctx: CommandContext, p: NoArgs) -> Status:
    """Tick, population, ticks/s, config_id, run state and the services' states."""
    if ctx.world is None:  # the console front process: the simulation's last summary
        return _summarised(ctx)
    w = ctx.world
    services = {name: s.state for name, s in ctx.health().services.items()}
    return Status(tick=int(w.tick), population=int(np.count_nonzero(w.alive)),
                  capacity=int(w.n_agents), ticks_per_s=round(ctx.tick_rate, 3),
                  config_id=str(w.config_id), paused=ctx.control.paused,
                  target_tps=ctx.control.target_tps, services=services)


def policy_info(ctx: CommandContext, p: NoArgs) -> PolicyInfo:
    """What policy drives the agents (scripted unless a learned policy was loaded)."""
    return ctx.policy


def _summarised(ctx: CommandContext) -> Status:
    """``status`` from the per-tick summary the simulation shares with the front process."""
    from townlet.console.errors import CommandError

    t = ctx.town() if ctx.town is not None else None
    if t is None:
        raise CommandError("E_BUSY", "the simulation has not reported its first tick yet; "
                           "retry shortly")
    return Status(tick=t.tick, population=t.population, capacity=t.slow.capacity,
                  ticks_per_s=round(t.ticks_per_s, 3), config_id=t.slow.config_id,
                  paused=t.paused, target_tps=t.target_tps,
                  services={name: str(s.get("state")) for name, s in t.slow.services.items()})
