"""Movement: one 4-neighbour step per tick, walls respected, destinations reached."""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.worlds import small_world
from townlet.config import default_config, with_agents
from townlet.world.geometry import PERIOD, SLOT_LOCAL, TILE, _corner, building_of, next_step, origin
from townlet.world.state import Today
from townlet.world.town import BLD, Town, generate_town

TARGETS = [(3, 3), (3, 5), (1, 5), (5, 5), (3, 6)] + [(int(a), int(b)) for *_, a, b in SLOT_LOCAL]


@functools.cache
def _town() -> tuple[Town, np.ndarray, np.ndarray, np.ndarray]:
    """The town, its walkable tiles, their (y, x) and its built blocks, made on first use:
    ``generate_town`` runs a Numba kernel, which must not run while pytest collects."""
    town = generate_town(with_agents(default_config(), 300).world, seed=5)
    walkable = np.isin(town.tile_kind, [TILE.STREET, TILE.FLOOR, TILE.DOOR])
    return town, walkable, np.argwhere(walkable), np.flatnonzero(town.bld_kind != BLD.LOT)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), target=st.sampled_from(TARGETS))
def test_next_step_reaches_any_target_through_walkable_tiles(data, target):
    town, walkable, floors, built = _town()
    y, x = (int(v) for v in floors[data.draw(st.integers(0, len(floors) - 1), "start")])
    b = int(built[data.draw(st.integers(0, len(built) - 1), "building")])
    height, width = town.tile_kind.shape
    limit = 2 * (height + width) + 20
    for _ in range(limit):
        dx, dy = next_step(x, y, b, target[0], target[1], town.blocks_w)
        if dx == 0 and dy == 0:
            break
        assert abs(dx) + abs(dy) == 1
        x, y = x + dx, y + dy
        assert walkable[y, x], f"stepped onto {TILE(town.tile_kind[y, x]).name} at {(x, y)}"
    else:
        raise AssertionError("target not reached")
    ox, oy = (b % town.blocks_w) * PERIOD + 1, (b // town.blocks_w) * PERIOD + 1
    assert (x - ox, y - oy) == target
    assert building_of(x, y, town.blocks_w) == b


def test_the_corner_taken_from_a_tile_is_its_buildings_origin():
    """``next_step`` takes the corner of the building an agent stands in from the tile
    alone (``_corner``, no division by the blocks' width); on every tile of every
    building, built or a lot, it is ``origin`` of ``building_of``."""
    town = _town()[0]
    inside = 0
    for y in range(town.tile_kind.shape[0]):
        for x in range(town.tile_kind.shape[1]):
            b = building_of(x, y, town.blocks_w)
            if b >= 0:
                inside += 1
                assert _corner(x, y) == origin(b, town.blocks_w), (x, y, b)
    assert inside == len(town.bld_kind) * (PERIOD - 1) ** 2


def test_agents_move_at_most_one_tile_per_tick_and_never_stand_in_walls():
    world = small_world(agents=120, seed=11)
    kind = world.view("tile_kind")
    x, y = world.view("agent_x").astype(int), world.view("agent_y").astype(int)
    for _ in range(600):
        world.step()
        nx, ny = world.view("agent_x").astype(int), world.view("agent_y").astype(int)
        alive = world.view("agent_alive").astype(bool)
        assert (np.abs(nx - x) + np.abs(ny - y))[alive].max() <= 1
        assert np.isin(kind[ny[alive], nx[alive]], [TILE.STREET, TILE.FLOOR, TILE.DOOR]).all()
        x, y = nx, ny


def test_agents_reach_their_destinations_during_a_day():
    world = small_world(agents=120, seed=2)
    used_bed = np.zeros(world.n_agents, bool)
    at_work = np.zeros(world.n_agents, bool)
    bed, work = world.view("agent_bed"), world.view("agent_work")
    works = world.view("agent_today")[:, Today.WORKS].astype(bool)  # day 0 is not a day off
    assert works.mean() > 0.75
    for _ in range(1440 + 240):  # late sleepers (late meal, late chronotype) go to bed after midnight
        world.step()
        obj = world.view("agent_obj")
        used_bed |= (world.view("agent_aff") >= 0) & (obj == bed)
        if world.tick <= 1440:
            at_work |= building_of_all(world) == work
    assert used_bed.all(), "every agent walks home and sleeps in its own bed"
    assert at_work[works].all(), "every agent due at work walks to its workplace"


def building_of_all(world):
    x, y = world.view("agent_x").astype(int), world.view("agent_y").astype(int)
    bw = world.params.blocks_w
    inside = (x % PERIOD != 0) & (y % PERIOD != 0)
    return np.where(inside, (y // PERIOD) * bw + x // PERIOD, -1)
