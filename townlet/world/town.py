"""Procedural town generator: districts of homes, a grocer, a cafe and offices.

Each district is a square of ``district_side`` blocks planned by
``townlet.config.invariants.district_plan`` so that it houses, feeds and employs
its residents; block roles inside a district are shuffled by the seed. The town
grows by adding districts, which keeps every agent's daily trips short at any
population, from 2 agents to a million.
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from townlet.config.invariants import district_plan
from townlet.config.world import OBJECT_TYPES as OBJ_NAMES
from townlet.config.world import WorldConfig
from townlet.world.geometry import DOOR_LX, DOOR_LY, PERIOD, SIDE, SLOT_LOCAL, SLOTS, TILE, origin
from townlet.world.jit import kernel
from townlet.world.names import index_enum

__all__ = ["BLD", "OBJ", "OBJ_NAMES", "Town", "generate_town"]


class BLD(IntEnum):
    """Building kinds."""

    LOT = 0
    HOME = 1
    GROCER = 2
    CAFE = 3
    OFFICE = 4


OBJ = index_enum("OBJ", OBJ_NAMES, NONE=-1)
"""Object type codes: ``NONE`` (-1, empty slot), then ``OBJ_NAMES`` (config's object types)
in order."""


# object type per slot, for each building kind
SLOT_TYPES = np.full((len(BLD), SLOTS), OBJ.NONE, dtype=np.int8)
SLOT_TYPES[BLD.HOME] = [OBJ.BED, OBJ.BED, OBJ.FRIDGE, OBJ.BED, OBJ.BED,
                        OBJ.SHOWER, OBJ.STOVE, OBJ.NONE, OBJ.NONE]
SLOT_TYPES[BLD.GROCER] = [OBJ.TILL] * 5 + [OBJ.NONE] * 4
SLOT_TYPES[BLD.CAFE] = [OBJ.COUNTER] * SLOTS
BED_SLOTS = np.array([0, 1, 3, 4], dtype=np.int8)
WORKPLACE_KIND = {"office": BLD.OFFICE, "grocer": BLD.GROCER, "cafe": BLD.CAFE}


class Town(NamedTuple):
    """The static town plus each agent's home, bed, workplace and district."""

    blocks_w: int
    blocks_h: int
    districts: int
    tile_kind: np.ndarray  # (H, W) uint8
    bld_kind: np.ndarray  # (B,) int8
    bld_district: np.ndarray  # (B,) int32
    district_grocer: np.ndarray  # (D,) int32 building
    district_cafe: np.ndarray  # (D,) int32 building
    obj_type: np.ndarray  # (B*SLOTS,) int8
    obj_x: np.ndarray
    obj_y: np.ndarray
    obj_ax: np.ndarray  # access tile
    obj_ay: np.ndarray
    agent_home: np.ndarray  # (N,) int32
    agent_bed: np.ndarray  # (N,) int32 object index of the agent's bed
    agent_work: np.ndarray  # (N,) int32 building
    agent_job: np.ndarray  # (N,) int8 index into world.jobs
    agent_district: np.ndarray  # (N,) int32


@kernel
def _paint(tile_kind, bld_kind, blocks_w, slot_types, slot_local,
           obj_type, obj_x, obj_y, obj_ax, obj_ay):
    """Tiles and objects of every building (walls on its outer ring, a door, slots)."""
    for b in range(bld_kind.shape[0]):
        ox, oy = origin(b, blocks_w)
        kind = bld_kind[b]
        for ly in range(SIDE):
            for lx in range(SIDE):
                if kind == BLD.LOT:
                    tile_kind[oy + ly, ox + lx] = TILE.LOT
                elif lx == 0 or ly == 0 or lx == SIDE - 1 or ly == SIDE - 1:
                    tile_kind[oy + ly, ox + lx] = TILE.WALL
                else:
                    tile_kind[oy + ly, ox + lx] = TILE.FLOOR
        if kind == BLD.LOT:
            continue
        tile_kind[oy + DOOR_LY, ox + DOOR_LX] = TILE.DOOR
        for s in range(slot_local.shape[0]):
            o = b * slot_local.shape[0] + s
            t = slot_types[kind, s]
            obj_type[o] = t
            obj_x[o] = ox + slot_local[s, 0]
            obj_y[o] = oy + slot_local[s, 1]
            obj_ax[o] = ox + slot_local[s, 2]
            obj_ay[o] = oy + slot_local[s, 3]
            if t >= 0:
                tile_kind[obj_y[o], obj_x[o]] = TILE.OBJECT


def _district_roles(plan, rng: np.random.Generator) -> np.ndarray:
    roles = np.array([BLD.GROCER, BLD.CAFE] + [BLD.OFFICE] * plan.offices
                     + [BLD.HOME] * plan.homes, dtype=np.int8)
    return roles[rng.permutation(roles.size)]


def _assign_jobs(world: WorldConfig, residents: int) -> tuple[np.ndarray, np.ndarray]:
    """Job index and workplace kind per resident of one district (shops first)."""
    by_kind = {kind: [i for i, j in enumerate(world.jobs) if j.workplace == kind]
               for kind in WORKPLACE_KIND}
    jobs = []
    for kind in ("grocer", "cafe"):
        if by_kind[kind]:
            jobs += [by_kind[kind][k % len(by_kind[kind])] for k in range(world.town.shop_staff)]
    office = by_kind["office"] or by_kind["grocer"] or by_kind["cafe"]
    while len(jobs) < residents:
        jobs.append(office[len(jobs) % len(office)])
    job = np.array(jobs[:residents], dtype=np.int8)
    kinds = np.array([WORKPLACE_KIND[world.jobs[j].workplace] for j in job], dtype=np.int8)
    return job, kinds


def generate_town(world: WorldConfig, seed: int) -> Town:
    """Build the town for ``world.town.agents`` agents, deterministically from ``seed``."""
    town = world.town
    plan = district_plan(town)
    n = town.agents
    districts = math.ceil(n / plan.residents)
    dw = math.ceil(math.sqrt(districts))
    dh = math.ceil(districts / dw)
    side = town.district_side
    blocks_w, blocks_h = dw * side, dh * side
    rng = np.random.default_rng([seed, 0x70776E])
    bld_kind = np.zeros(blocks_w * blocks_h, dtype=np.int8)
    bld_district = np.full(blocks_w * blocks_h, -1, dtype=np.int32)
    grocer = np.zeros(districts, dtype=np.int32)
    cafe = np.zeros(districts, dtype=np.int32)
    homes_of = []
    for d in range(districts):
        bx0, by0 = (d % dw) * side, (d // dw) * side
        blocks = np.array([(by0 + j) * blocks_w + bx0 + i
                           for j in range(side) for i in range(side)], dtype=np.int32)
        roles = _district_roles(plan, rng)
        bld_kind[blocks] = roles
        bld_district[blocks] = d
        grocer[d] = blocks[roles == BLD.GROCER][0]
        cafe[d] = blocks[roles == BLD.CAFE][0]
        homes_of.append((blocks[roles == BLD.HOME], blocks[roles == BLD.OFFICE]))
    height, width = blocks_h * PERIOD + 1, blocks_w * PERIOD + 1
    tile_kind = np.zeros((height, width), dtype=np.uint8)
    m = bld_kind.size * SLOTS
    obj = [np.full(m, -1, dtype=np.int8)] + [np.zeros(m, dtype=np.int16) for _ in range(4)]
    _paint(tile_kind, bld_kind, blocks_w, SLOT_TYPES, SLOT_LOCAL, *obj)

    agent_home = np.zeros(n, dtype=np.int32)
    agent_bed = np.zeros(n, dtype=np.int32)
    agent_work = np.zeros(n, dtype=np.int32)
    agent_job = np.zeros(n, dtype=np.int8)
    agent_district = np.zeros(n, dtype=np.int32)
    job, kinds = _assign_jobs(world, plan.residents)
    per_home = town.residents_per_home
    for d, (homes, offices) in enumerate(homes_of):
        lo, hi = d * plan.residents, min(n, (d + 1) * plan.residents)
        k = np.arange(hi - lo)
        agent_district[lo:hi] = d
        agent_home[lo:hi] = homes[k // per_home]
        agent_bed[lo:hi] = agent_home[lo:hi] * SLOTS + BED_SLOTS[k % per_home]
        agent_job[lo:hi] = job[k]
        office_rank = np.cumsum(kinds[k] == BLD.OFFICE) - 1
        work = np.where(kinds[k] == BLD.GROCER, grocer[d], cafe[d])
        if offices.size:
            work = np.where(kinds[k] == BLD.OFFICE,
                            offices[np.maximum(office_rank, 0) % offices.size], work)
        agent_work[lo:hi] = work
    return Town._make((blocks_w, blocks_h, districts, tile_kind, bld_kind, bld_district, grocer,
                       cafe, *obj, agent_home, agent_bed, agent_work, agent_job, agent_district))
