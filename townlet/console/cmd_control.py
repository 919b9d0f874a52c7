"""Run control: pause, resume, single-step and pace the simulation loop."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from townlet.console.context import CommandContext

__all__ = ["pause", "resume", "speed", "step"]


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    """No arguments."""


class StepArgs(msgspec.Struct, forbid_unknown_fields=True):
    n: Annotated[int, Meta(ge=1, le=100_000)] = 1
    """Ticks to run before pausing again."""


class SpeedArgs(msgspec.Struct, forbid_unknown_fields=True):
    tps: Annotated[float, Meta(ge=0.0, le=1_000_000.0)]
    """Target ticks per second; 0 = as fast as possible."""


class RunState(msgspec.Struct):
    tick: int
    paused: bool
    pending_steps: int
    target_tps: float
    """0 = as fast as possible."""


def _state(ctx: CommandContext) -> RunState:
    c = ctx.control
    return RunState(tick=int(ctx.world.tick), paused=c.paused, pending_steps=c.pending_steps,
                    target_tps=c.target_tps)


def pause(ctx: CommandContext, p: NoArgs) -> RunState:
    """Stop ticking; the console keeps answering."""
    ctx.control.paused = True
    ctx.control.pending_steps = 0
    return _state(ctx)


def resume(ctx: CommandContext, p: NoArgs) -> RunState:
    """Tick freely again."""
    ctx.control.paused = False
    ctx.control.pending_steps = 0
    return _state(ctx)


def step(ctx: CommandContext, p: StepArgs) -> RunState:
    """Pause, then run exactly n more ticks."""
    ctx.control.paused = True
    ctx.control.pending_steps += p.n
    return _state(ctx)


def speed(ctx: CommandContext, p: SpeedArgs) -> RunState:
    """Pace the loop to tps ticks per second (0 = unlimited)."""
    ctx.control.target_tps = float(p.tps)
    return _state(ctx)
