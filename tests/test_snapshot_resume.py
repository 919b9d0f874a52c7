"""Exact resume of the real World at any tick: a resumed run equals the straight run
(state hash and events) for the following ticks, including right after interventions
(issue 11 items 2 and 3).

The long runs are shared: each town runs straight once, saving at random points (some at
the end of a tick, some between an intervention and the next step) and recording the
next ticks; every snapshot is then resumed in a fresh World and must replay them exactly.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from townlet.config import default_config, with_agents
from townlet.snapshots.world_io import resume_world, save_world
from townlet.world import World, WorldError
from townlet.world.actions import N_ACTIONS
from townlet.world.params import PERT_KINDS
from townlet.world.state import NEEDS, PertMeta, St, expected_money

DAY = default_config().world.ticks_per_day
FOLLOW = 5
"""Ticks compared after each save point."""


def _config(root: Path, agents: int):
    cfg = with_agents(default_config(), agents)
    return msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, root=str(root)))


def _record(world: World) -> tuple[str, bytes]:
    return world.state_hash(), world.events().tobytes()


def _intervene(world: World, rng: np.random.Generator) -> None:
    """One console-style intervention chosen by ``rng`` from the world's current state."""
    alive = np.flatnonzero(world.view("agent_alive"))
    a = int(rng.choice(alive))
    kind = rng.integers(10)
    try:
        if kind == 0:
            b = int(rng.choice(alive))
            world.teleport(a, int(world.view("agent_x")[b]), int(world.view("agent_y")[b]))
        elif kind == 1:
            world.kill(a)
        elif kind == 2:
            world.spawn()
        elif kind == 3:
            world.set_need(a, NEEDS[rng.integers(len(NEEDS))], float(rng.random()))
        elif kind == 4:
            world.possess(a)
            world.set_possessed_action(a, int(rng.integers(N_ACTIONS)))
        elif kind == 5:
            world.release(a)
        elif kind == 6:
            pk = PERT_KINDS[rng.integers(len(PERT_KINDS))]
            target = "groceries" if pk == "price_spike" else int(rng.integers(2))
            world.perturb(pk, int(rng.integers(5, 200)), float(rng.uniform(0.5, 3.0)), target)
        elif kind == 7:
            ids = world.view("pert_id")[world.view("pert_kind") >= 0]
            if ids.size:
                world.cancel_perturbation(int(ids[0]))
        elif kind == 8:
            obj = int(rng.integers(world.view("obj_type").size))
            world.set_object_enabled(obj, bool(rng.integers(2)))
        else:
            world.employment_exit(a)
    except WorldError:
        pass  # refused (agent not possessed, slot busy...): refused the same way on resume


class Plan:
    """Interventions by tick (applied before that tick's step), from one seed; an
    employment exit is always requested on the first morning, so every run gets past
    an exit even when the town's own workers are never late enough to be let go."""

    EXIT_AT = DAY // 3

    def __init__(self, seed: int, ticks: int, every: int) -> None:
        rng = np.random.default_rng(seed)
        self.seed = seed
        self.ticks = set(rng.choice(ticks, size=ticks // every, replace=False).tolist())

    def before_step(self, world: World) -> None:
        t = world.tick
        if t == self.EXIT_AT:
            world.employment_exit(int(np.flatnonzero(world.view("agent_alive"))[0]))
        if t in self.ticks:
            rng = np.random.default_rng([self.seed, t])
            for _ in range(rng.integers(1, 4)):
                _intervene(world, rng)


def _straight_run(cfg, plan: Plan, ticks: int, points: list[tuple[int, bool]]):
    """Run ``ticks`` ticks; at each (tick, mid) point save (mid: after that tick's
    interventions, before its step) and record the following FOLLOW ticks."""
    world = World(cfg, seed=7)
    saves = {p: f"p{p[0]}{'m' if p[1] else 'e'}.tsnap" for p in points}
    traces: dict[tuple[int, bool], list] = {p: [] for p in points}
    open_points: list[tuple[int, bool]] = []
    while world.tick < ticks:
        t = world.tick
        if (t, False) in saves:
            save_world(world, saves[(t, False)])
            open_points.append((t, False))
        plan.before_step(world)
        if (t, True) in saves:
            save_world(world, saves[(t, True)])
            open_points.append((t, True))
        world.step()
        for p in open_points:
            traces[p].append(_record(world))
        open_points = [p for p in open_points if len(traces[p]) < FOLLOW]
    money_exact = (int(world.view("agent_wallet")[world.alive].sum())
                   == expected_money(world.view("ledger")))
    return world, saves, traces, money_exact


@pytest.mark.parametrize(("agents", "days", "seed"), [(1000, 30, 11), (10_000, 3, 12)])
def test_every_resume_equals_the_straight_run(tmp_path: Path, agents: int, days: int,
                                              seed: int) -> None:
    ticks = days * DAY
    cfg = _config(tmp_path, agents)
    plan = Plan(seed, ticks - FOLLOW, every=400)
    rng = np.random.default_rng(seed + 100)
    ends = rng.choice(ticks - FOLLOW, size=3, replace=False).tolist()
    mids = rng.choice(sorted(plan.ticks), size=2, replace=False).tolist()
    points = [(int(t), False) for t in ends] + [(int(t), True) for t in mids]
    straight, saves, traces, money_exact = _straight_run(cfg, plan, ticks, points)

    assert int(straight.view("stats")[St.EXITS]) > 0  # past the first employment exits
    assert int(straight.view("pert_meta")[PertMeta.NEXT_ID]) > 0  # perturbations ran
    assert money_exact
    for (t, mid), name in saves.items():
        world = resume_world(name, cfg)
        assert world.tick == t
        got = []
        for k in range(FOLLOW):
            if k or not mid:  # a mid-batch snapshot already holds tick t's interventions
                plan.before_step(world)
            world.step()
            got.append(_record(world))
        assert got == traces[(t, mid)], f"resume from {name}"


def _interventions(world: World, kind: str) -> None:
    alive = np.flatnonzero(world.view("agent_alive"))
    a = int(alive[1])
    if kind == "teleport":
        x, y = int(world.view("agent_x")[alive[2]]), int(world.view("agent_y")[alive[2]])
        world.teleport(a, x, y)
    elif kind == "kill_spawn":
        world.kill(a)
        world.spawn()
    else:
        world.perturb("price_spike", 30, 1.5, target="groceries")


@pytest.mark.parametrize("kind", ["teleport", "kill_spawn", "perturb"])
def test_resume_right_after_an_intervention(tmp_path: Path, kind: str) -> None:
    """The intervention's events belong to the next step's batch; the snapshot carries
    that open batch, so the resumed N+1..N+5 equal the straight run's."""
    cfg = _config(tmp_path, 60)
    world = World(cfg, seed=4)
    for _ in range(40):
        world.step()
    _interventions(world, kind)
    assert len(world.events()) > 0  # the open batch holds the intervention's events
    save_world(world, "mid.tsnap")
    resumed = resume_world("mid.tsnap", cfg)
    assert resumed.state_hash() == world.state_hash()
    straight = []
    for _ in range(FOLLOW):
        world.step()
        straight.append(_record(world))
    got = []
    for _ in range(FOLLOW):
        resumed.step()
        got.append(_record(resumed))
    assert got == straight
