"""The World boundary: validation, read-only views, interventions and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.worlds import small_world
from townlet.config.money import to_minor
from townlet.world import World
from townlet.world.actions import Action, Flag
from townlet.world.errors import (
    AgentNotFound,
    AlreadyPossessed,
    BlockedTile,
    BusyTarget,
    InvalidArgument,
    NotFound,
)
from townlet.world.events import EventCode
from townlet.world.geometry import TILE


@pytest.fixture(scope="module")
def world() -> World:
    w = small_world(agents=30)
    w.step()
    return w


@pytest.mark.parametrize("actions, error, message", [
    ([0] * 30, TypeError, "numpy array"),
    (np.zeros(30, dtype=np.float32), TypeError, "integer dtype"),
    (np.zeros(29, dtype=np.int8), ValueError, "shape (30,)"),
    (np.full(30, 15, dtype=np.int16), ValueError, "in [-1, 14], got 15"),
    (np.full(30, -2, dtype=np.int64), ValueError, "got -2"),
])
def test_bad_actions_are_refused_before_the_kernel(world, actions, error, message):
    before = world.state_hash()
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        world.step(actions)
    assert world.state_hash() == before


def test_views_are_read_only(world):
    for name in ("agent_x", "agent_needs", "obj_holder", "tile_kind"):
        view = world.view(name)
        with pytest.raises(ValueError):
            view[...] = 0
    with pytest.raises(KeyError):
        world.view("agent_secret")


def test_teleport_checks_walls_and_bounds(world):
    kind = world.view("tile_kind")
    wy, wx = np.argwhere(kind == TILE.WALL)[0]
    with pytest.raises(BlockedTile, match="wall"):
        world.teleport(0, int(wx), int(wy))
    with pytest.raises(BlockedTile, match="off the map"):
        world.teleport(0, -1, 5)
    sy, sx = np.argwhere(kind == TILE.STREET)[0]
    world.teleport(0, int(sx), int(sy))
    assert (world.view("agent_x")[0], world.view("agent_y")[0]) == (sx, sy)
    assert world.view("agent_flags")[0] & Flag.TELEPORTED
    assert EventCode.AGENT_TELEPORTED in world.events()["code"]
    world.step()
    world.step()
    assert not world.view("agent_flags")[0] & Flag.TELEPORTED


def test_intervention_errors_carry_console_codes(world):
    with pytest.raises(AgentNotFound) as err:
        world.kill(999)
    assert err.value.code == "E_NOT_FOUND"
    with pytest.raises(InvalidArgument, match="unknown need"):
        world.set_need(1, "mood", 0.5)
    with pytest.raises(InvalidArgument, match=r"\[0, 1\]"):
        world.set_need(1, "hunger", 1.5)
    world.possess(2)
    with pytest.raises(AlreadyPossessed) as err:
        world.possess(2)
    assert err.value.code == "E_ALREADY_POSSESSED"
    world.release(2)
    with pytest.raises(InvalidArgument, match="not possessed"):
        world.release(2)
    with pytest.raises(InvalidArgument, match="unknown perturbation"):
        world.perturb("earthquake", 10)
    with pytest.raises(InvalidArgument, match="duration"):
        world.perturb("blackout", 0)
    with pytest.raises(NotFound):
        world.cancel_perturbation(12345)
    with pytest.raises(NotFound):
        world.set_object_enabled(-3, False)


def test_kill_and_spawn(world):
    world.kill(5)
    assert not world.view("agent_alive")[5]
    assert EventCode.AGENT_KILLED in world.events()["code"]
    with pytest.raises(AgentNotFound, match="not alive"):
        world.set_need(5, "hunger", 0.5)
    slot = world.spawn()
    assert slot == 5 and world.view("agent_alive")[5]
    assert world.view("agent_wallet")[5] == to_minor(world.config.world.lifecycle.starter_wallet)


def test_spawn_into_full_town_is_busy():
    w = small_world(agents=4)
    with pytest.raises(BusyTarget, match="full"):
        w.spawn()


def test_possessed_agent_follows_the_operator():
    w = small_world(agents=10)
    w.possess(0)
    x0 = int(w.view("agent_x")[0])
    for _ in range(5):
        w.step()
    assert int(w.view("agent_x")[0]) == x0, "a possessed agent waits unless told"
    w.set_possessed_action(0, Action.CANCEL)
    w.step()
    assert w.view("agent_action")[0] == Action.CANCEL


def test_bad_seed():
    with pytest.raises(InvalidArgument, match="seed"):
        small_world(agents=4, seed=-1)
