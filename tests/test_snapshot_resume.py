"""Exact resume of the real World at any tick: a resumed run equals the straight run
(state hash and events) for the following ticks, including right after interventions."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from townlet.config import default_config, with_agents
from townlet.snapshots.world_io import resume_world, save_world
from townlet.world import World


def _config(root: Path, agents: int):
    cfg = with_agents(default_config(), agents)
    return msgspec.structs.replace(
        cfg, snapshots=msgspec.structs.replace(cfg.snapshots, root=str(root)))


def _trace(world: World, ticks: int) -> list[tuple[str, bytes]]:
    out = []
    for _ in range(ticks):
        world.step()
        out.append((world.state_hash(), world.events().tobytes()))
    return out


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
    assert _trace(resumed, 5) == _trace(world, 5)
