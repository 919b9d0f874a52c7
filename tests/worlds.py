"""Small real worlds for the kernel tests (no doubles: the compiled kernel runs)."""

from __future__ import annotations

import numpy as np

from townlet.config import default_config, with_agents
from townlet.world import World
from townlet.world.actions import N_ACTIONS, Action
from townlet.world.geometry import SLOTS

__all__ = ["actions_for", "home_object", "run_day", "small_world", "stand_at"]


def small_world(agents: int = 40, seed: int = 3, **world_overrides) -> World:
    cfg = with_agents(default_config(), agents)
    if world_overrides:
        import msgspec

        raw = msgspec.to_builtins(cfg)
        for path, value in world_overrides.items():
            node = raw["world"]
            *parents, leaf = path.split("__")
            for key in parents:
                node = node[key]
            node[leaf] = value
        cfg = msgspec.convert(raw, type(cfg))
    return World(cfg, seed=seed)


def home_object(world: World, agent: int, otype: int) -> int:
    """The first object of ``otype`` in the agent's home."""
    home = int(world.view("agent_home")[agent])
    types = world.view("obj_type")[home * SLOTS:(home + 1) * SLOTS]
    return home * SLOTS + int(np.flatnonzero(types == otype)[0])


def stand_at(world: World, agent: int, obj: int) -> None:
    """Teleport ``agent`` onto the access tile of ``obj``."""
    world.teleport(agent, int(world.view("obj_ax")[obj]), int(world.view("obj_ay")[obj]))


def actions_for(world: World, default: int = Action.SCRIPTED, **per_agent: int) -> np.ndarray:
    acts = np.full(world.n_agents, default, dtype=np.int8)
    for key, value in per_agent.items():
        acts[int(key.lstrip("a"))] = value
    return acts



def run_day(agents: int, ticks: int = 1440) -> World:
    """A small town after ``ticks`` ticks, some of them on random actions (same every call)."""
    world = small_world(agents=agents, seed=5)
    rng = np.random.default_rng(0)
    for t in range(ticks):
        if t % 97 < 7:  # some ticks on operator/learner actions, the rest scripted
            world.step(rng.integers(-1, N_ACTIONS, world.n_agents).astype(np.int8))
        else:
            world.step()
    return world
