"""Read-only views of agents: one agent's full state, filtered lists, relationships, and
which agents hold a kind of tie (a bitmap over every slot, for filters at any scale).

Everything is read through ``world.view`` (read-only) and vectorised; results
are plain lists, never live arrays.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import numpy as np
from msgspec import Meta

from townlet.config.money import to_units
from townlet.console.context import CommandContext
from townlet.console.errors import CommandError
from townlet.world.actions import Flag, Goal
from townlet.world.state import NEEDS
from townlet.world.ties import TieKind

__all__ = ["agent", "agents", "related", "relationships"]

AgentId = Annotated[int, Meta(ge=0, le=2**31 - 1)]


def living(ctx: CommandContext, i: int) -> int:
    """``i`` if it is a living agent's slot, else E_NOT_FOUND."""
    w = ctx.world
    if i >= w.n_agents:
        raise CommandError("E_NOT_FOUND", f"no agent slot {i} (slots 0..{w.n_agents - 1})")
    if not w.alive[i]:
        raise CommandError("E_NOT_FOUND", f"agent {i} is not alive")
    return i


class AgentArgs(msgspec.Struct, forbid_unknown_fields=True):
    agent: AgentId
    """Agent slot."""


class AgentState(msgspec.Struct):
    agent: int
    needs: dict[str, float]
    goal: str
    flags: list[str]
    state: dict[str, Any]
    """Every ``agent_*`` state section at this slot (names without the prefix)."""


def agent(ctx: CommandContext, p: AgentArgs) -> AgentState:
    """One agent's complete state (every agent_* section)."""
    i = living(ctx, p.agent)
    w = ctx.world
    state = {name[6:]: arr[i].tolist() for name, arr in w.sections().items()
             if name.startswith("agent_")}
    needs = w.view("agent_needs")[i]
    flags = int(w.view("agent_flags")[i])
    return AgentState(agent=i, needs={n: round(float(v), 6) for n, v in zip(NEEDS, needs)},
                      goal=Goal(int(w.view("agent_goal")[i])).name.lower(),
                      flags=[f.name.lower() for f in Flag if flags & f], state=state)


class AgentsArgs(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=1000)] = 50
    """Rows to return."""
    offset: Annotated[int, Meta(ge=0)] = 0
    """Rows to skip (paging, in slot order)."""
    district: Annotated[int, Meta(ge=0)] | None = None
    """Only agents of this district."""
    job: Annotated[int, Meta(ge=0, le=127)] | None = None
    """Only agents with this job index."""
    need: Literal[NEEDS] | None = None  # type: ignore[valid-type]
    """With ``below``: only agents whose need is below the threshold."""
    below: Annotated[float, Meta(ge=0.0, le=1.0)] = 1.0
    """Threshold for ``need``."""
    near: Annotated[list[int], Meta(min_length=2, max_length=2)] | None = None
    """[x, y]: only agents within ``radius`` tiles (Chebyshev)."""
    radius: Annotated[int, Meta(ge=0, le=100_000)] = 5
    """Radius for ``near``."""
    possessed: bool | None = None
    """Only possessed (true) or unpossessed (false) agents."""


class AgentRow(msgspec.Struct, array_like=True):
    agent: int
    x: int
    y: int
    needs: list[float]
    wallet: float
    job: int
    district: int
    goal: int
    flags: int


class AgentsResult(msgspec.Struct):
    total: int
    """Agents matching the filters."""
    columns: list[str]
    rows: list[AgentRow]


def agents(ctx: CommandContext, p: AgentsArgs) -> AgentsResult:
    """Living agents matching filters (district, job, need below, near x,y, possessed)."""
    w = ctx.world
    mask = w.alive.copy()
    x, y = w.view("agent_x"), w.view("agent_y")
    if p.district is not None:
        mask &= w.view("agent_district") == p.district
    if p.job is not None:
        mask &= w.view("agent_job") == p.job
    if p.need is not None:
        mask &= w.view("agent_needs")[:, NEEDS.index(p.need)] < p.below
    if p.near is not None:
        nx, ny = p.near
        mask &= np.maximum(np.abs(x - nx), np.abs(y - ny)) <= p.radius
    if p.possessed is not None:
        pos = (w.view("agent_flags") & Flag.POSSESSED) != 0
        mask &= pos if p.possessed else ~pos
    idx = np.flatnonzero(mask)
    sel = idx[p.offset:p.offset + p.limit]
    needs = np.round(w.view("agent_needs")[sel].astype(np.float64), 6).tolist()
    cols = [(to_units(w.view(n)[sel]) if n == "agent_wallet" else w.view(n)[sel]).tolist()
            for n in ("agent_x", "agent_y", "agent_wallet", "agent_job", "agent_district",
                      "agent_goal", "agent_flags")]
    rows = [AgentRow(*(int(a), *vals[:2], needs[k], *vals[2:]))
            for k, (a, *vals) in enumerate(zip(sel.tolist(), *cols))]
    return AgentsResult(total=int(idx.size), columns=list(AgentRow.__struct_fields__),
                        rows=rows)


class RelArgs(msgspec.Struct, forbid_unknown_fields=True):
    agent: AgentId
    """Agent slot."""
    limit: Annotated[int, Meta(ge=1, le=1000)] = 10
    """Ties to return in each list."""


class Tie(msgspec.Struct):
    other: int
    trust: float
    familiarity: float
    rivalry: float


class Relationships(msgspec.Struct):
    agent: int
    ties: int
    friends: list[Tie]
    """By trust + familiarity, highest first."""
    rivals: list[Tie]
    """By rivalry, highest first (only rivalry > 0)."""


def relationships(ctx: CommandContext, p: RelArgs) -> Relationships:
    """An agent's ties: closest friends and strongest rivals."""
    i = living(ctx, p.agent)
    w = ctx.world
    other = w.view("rel_other")[i]
    used = np.flatnonzero(other >= 0)
    trust = w.view("rel_trust")[i, used].astype(np.float64)
    fam = w.view("rel_fam")[i, used].astype(np.float64)
    riv = w.view("rel_riv")[i, used].astype(np.float64)

    def ties(order: np.ndarray) -> list[Tie]:
        return [Tie(int(other[used[k]]), round(trust[k], 6), round(fam[k], 6), round(riv[k], 6))
                for k in order[:p.limit].tolist()]

    friends = np.argsort(-(trust + fam), kind="stable")
    rivals = [k for k in np.argsort(-riv, kind="stable").tolist() if riv[k] > 0]
    return Relationships(agent=i, ties=int(used.size), friends=ties(friends),
                         rivals=ties(np.asarray(rivals, dtype=np.int64)))


class RelatedArgs(msgspec.Struct, forbid_unknown_fields=True):
    kind: TieKind = "tie"
    """``friend`` (trust at or above relationships.friendship_threshold), ``rival``
    (rivalry at or above relationships.avoid_threshold) or ``tie`` (any)."""
    with_agent: AgentId | None = None
    """Only ties with this living agent."""


class Related(msgspec.Struct):
    kind: str
    with_agent: int | None
    tick: int
    total: int
    """Living agents holding such a tie."""
    slots: int
    """Agent slots the mask covers."""
    mask: bytes
    """One bit per agent slot, set for a match (``numpy.packbits`` order: slot 0 is the
    most significant bit of the first byte)."""


def related(ctx: CommandContext, p: RelatedArgs) -> Related:
    """Which agents hold a friend, rival or any tie (with one agent, optionally)."""
    w = ctx.world
    if p.with_agent is not None:
        living(ctx, p.with_agent)
    hit = w.related(p.kind, p.with_agent)
    return Related(kind=p.kind, with_agent=p.with_agent, tick=w.tick,
                   total=int(np.count_nonzero(hit)), slots=int(hit.size),
                   mask=np.packbits(hit).tobytes())
