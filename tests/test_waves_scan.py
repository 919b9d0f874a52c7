"""The wave tick's scan for wild agents (townlet.world.waves ``_wild_on``): branch-free
over a district's slots, on tables built once; it must answer exactly what the rule in
docs/architecture.md ("Waves") says, agent by agent, for every district row."""

from __future__ import annotations

import numpy as np
import pytest

from townlet.config import default_config, with_agents, with_settings
from townlet.world import World
from townlet.world.actions import Flag
from townlet.world.geometry import PERIOD, SLOTS, outside_door
from townlet.world.state import Need, Roster
from townlet.world.waves import STRAY, TIES, X0, XS, _wild_on, far_count, waves_for

AGENTS = 3000
"""26 districts: three rows of 9 (the last row shorter)."""


def _district_of_tile(x, y, s, p):
    """District column and row a tile belongs to (the last street to the last block)."""
    blocks_h = (s.tile_kind.shape[0] - 1) // PERIOD
    bx, by = np.minimum(x // PERIOD, p.blocks_w - 1), np.minimum(y // PERIOD, blocks_h - 1)
    return bx // p.district_side, by // p.district_side


def _homes(s, p):
    """Per slot, its district's column and row on the district grid (by division)."""
    per, dw = p.residents_per_district, p.districts_w
    slot = np.arange(s.agent_alive.shape[0])
    assert (s.agent_district == slot // per).all()  # slots are ordered by district
    return (slot // per) % dw, (slot // per) // dw


def _in_3x3(x, y, s, p):
    """Per slot, whether tile column x and tile row y lie in its district's 3x3 or on the
    street past it (a tile is in when it or the tile before it lies in the 3x3)."""
    col, row = _homes(s, p)
    c, r = _district_of_tile(x, y, s, p)
    c_before, r_before = _district_of_tile(np.maximum(x - 1, 0), np.maximum(y - 1, 0), s, p)
    return ((np.abs(c - col) <= 1) | (np.abs(c_before - col) <= 1),
            (np.abs(r - row) <= 1) | (np.abs(r_before - row) <= 1))


def _reference(s, p, tod):
    """Per slot, whether it is a living agent that is wild under the rule, computed
    plainly: its district from its slot, every place by division, the exit rule as the
    turn would apply it."""
    col, row = _homes(s, p)

    def far(c, r):
        return (np.abs(c - col) > 1) | (np.abs(r - row) > 1)

    def building(b):
        return (b % p.blocks_w) // p.district_side, (b // p.blocks_w) // p.district_side

    near_x, near_y = _in_3x3(s.agent_x.astype(int), s.agent_y.astype(int), s, p)
    wild = ~(near_x & near_y)
    for target, per_building in ((s.agent_obj, SLOTS), (s.agent_dest, SLOTS),
                                 (s.agent_meet_bld, 1)):
        b = np.maximum(target.astype(int), 0) // per_building
        wild |= (target >= 0) & far(*building(b))
    pending = (s.agent_flags & Flag.EXIT_PENDING) != 0
    absent = np.array([(int(a) | 1).bit_count() for a in s.agent_absences])
    j = s.agent_job.astype(int)
    start = p.job_start[j] + s.agent_roster[:, Roster.PATTERN] * p.job_stagger[j]
    ends = (tod == 0) | (tod == start + p.job_end[j] - p.job_start[j])
    starves = s.agent_neglect[:, Need.HUNGER] + 1 >= p.death_after
    exits = np.where(pending, starves, (absent >= p.max_absent) & ends)
    return (s.agent_alive != 0) & (wild | exits)


@pytest.fixture(scope="module")
def town():
    cfg = with_settings(with_agents(default_config(), AGENTS), {"kernel.threads": 1}, "test")
    world = World(cfg, 5)
    for _ in range(60):
        world.step()
    return world


def _rows_wild(world, w, tod):
    dw, dh, districts = int(w.geo[0]), int(w.geo[1]), w.dist_key.shape[0]
    return [bool(_wild_on(world._ks, world._kp, w, tod, y * dw, min(y * dw + dw, districts)))
            for y in range(dh)]


@pytest.mark.timeout(900)  # the first test compiles the town's tick
def test_the_scan_finds_exactly_the_rows_with_a_wild_agent(town):
    """Random places, queues, walks, meetings, exit-queue states, absences and deaths,
    a few agents at a time: every row's answer is the rule's."""
    s, p = town._s, town._p
    w = waves_for(s, p, 2)
    per, dw = p.residents_per_district, p.districts_w
    rng = np.random.default_rng(3)
    fields = ("agent_x", "agent_y", "agent_obj", "agent_dest", "agent_meet_bld", "agent_flags",
              "agent_absences", "agent_neglect", "agent_alive")
    saved = {f: getattr(s, f).copy() for f in fields}
    height, width = s.tile_kind.shape
    objects, buildings = s.obj_type.shape[0], w.bld_key.shape[0] - 1
    seen = {True: 0, False: 0}
    try:
        for trial in range(300):
            tod = int(rng.choice([0, 1, 2, int(rng.integers(p.day))]))
            for i in rng.integers(0, AGENTS, size=int(rng.integers(1, 4))):
                change = rng.integers(9)
                if change == 0:
                    s.agent_x[i], s.agent_y[i] = rng.integers(width), rng.integers(height)
                elif change == 1:
                    s.agent_x[i] = np.clip(s.agent_x[i] + rng.integers(-3 * PERIOD, 3 * PERIOD),
                                           0, width - 1)
                elif change == 2:
                    s.agent_obj[i] = rng.integers(-1, objects)
                elif change == 3:
                    s.agent_dest[i] = rng.integers(-1, objects)
                elif change == 4:
                    s.agent_meet_bld[i] = rng.integers(-1, buildings)
                elif change == 5:
                    s.agent_flags[i] ^= np.uint8(Flag.EXIT_PENDING)
                    s.agent_neglect[i, Need.HUNGER] = p.death_after - rng.integers(1, 3)
                elif change == 6:
                    s.agent_absences[i] = rng.integers(128)
                elif change == 7:
                    s.agent_alive[i] = 0
                else:
                    s.agent_y[i] = np.clip(s.agent_y[i] + rng.integers(-3 * PERIOD, 3 * PERIOD),
                                           0, height - 1)
            expected = _reference(s, p, tod)
            rows = [bool(expected[y * dw * per:(y + 1) * dw * per].any())
                    for y in range(int(w.geo[1]))]
            assert _rows_wild(town, w, tod) == rows, trial
            for r in rows:
                seen[r] += 1
            if trial % 10 == 9:  # back to the settled town: rows are tame again
                for f in fields:
                    getattr(s, f)[...] = saved[f]
    finally:
        for f in fields:
            getattr(s, f)[...] = saved[f]
    assert seen[True] > 100 and seen[False] > 100  # both answers were put to the test


def test_a_settled_town_has_no_wild_row(town):
    w = waves_for(town._s, town._p, 2)
    assert not any(_rows_wild(town, w, int(town._s.clock[0]) % town._p.day))


def test_an_agent_on_the_street_past_its_3x3_is_tame(town):
    """A building's door opens onto the street below it, which for the 3x3's last block
    row belongs to the next district row: an agent there (walking to or from that door)
    is tame and its row runs on the threads; one tile further it is wild."""
    s, p = town._s, town._p
    w = waves_for(s, p, 2)
    per, dw, side = p.residents_per_district, p.districts_w, p.district_side
    i = 0  # district 0: its 3x3 ends with block row 2 * side - 1
    tod = int(s.clock[0]) % p.day
    b = (2 * side - 1) * p.blocks_w  # a building of that block row
    x, y = outside_door(b, p.blocks_w)
    assert _district_of_tile(np.array([x]), np.array([y]), s, p)[1][0] == 2  # the next row's
    saved = s.agent_x[i], s.agent_y[i]
    try:
        s.agent_x[i], s.agent_y[i] = x, y
        assert not _reference(s, p, tod)[:dw * per].any()
        assert not _rows_wild(town, w, tod)[0]
        s.agent_y[i] = y + 1
        assert _reference(s, p, tod)[i]
        assert _rows_wild(town, w, tod)[0]
    finally:
        s.agent_x[i], s.agent_y[i] = saved


def _far_reference(s, p):
    """Living agents far from home under the rule, computed plainly (no tile within
    STRAY of where it stands, on either axis, lies in its 3x3 or on the street past it),
    plus ties between homes more than TIES districts apart."""
    height, width = s.tile_kind.shape
    x, y = s.agent_x.astype(int), s.agent_y.astype(int)
    near_x = near_y = np.zeros(x.shape, dtype=bool)
    for step in range(-STRAY, STRAY + 1):
        in_x, in_y = _in_3x3(np.clip(x + step, 0, width - 1), np.clip(y + step, 0, height - 1),
                             s, p)
        near_x, near_y = near_x | in_x, near_y | in_y
    col, row = _homes(s, p)
    j = s.rel_other.astype(int)
    ties = (j >= 0) & ((np.abs(col[j] - col[:, None]) > TIES)
                       | (np.abs(row[j] - row[:, None]) > TIES))
    return int(((s.agent_alive != 0) & ~(near_x & near_y)).sum() + ties.sum())


def test_far_count_counts_agents_far_from_home_and_far_ties(town):
    """``far_count`` (the check that sends a whole tick to slot order) answers the rule
    computed plainly, over random places (near and past the STRAY bound), far ties and
    deaths; a settled town has neither."""
    s, p = town._s, town._p
    w = waves_for(s, p, 2)
    assert far_count(town._ks, w) == _far_reference(s, p) == 0
    rng = np.random.default_rng(5)
    fields = ("agent_x", "agent_y", "agent_alive", "rel_other")
    saved = {f: getattr(s, f).copy() for f in fields}
    height, width = s.tile_kind.shape
    counts = []
    try:
        last = int(w.span[0, X0] + w.span[0, XS] - 1)  # district 0's street past its 3x3
        for x, expected in ((last + STRAY, 0), (last + STRAY + 1, 1)):
            s.agent_x[0] = x
            assert far_count(town._ks, w) == _far_reference(s, p) == expected
        s.agent_x[0] = saved["agent_x"][0]
        for trial in range(200):
            for i in rng.integers(0, AGENTS, size=int(rng.integers(1, 4))):
                change = rng.integers(5)
                if change == 0:
                    s.agent_x[i] = np.clip(s.agent_x[i] + rng.integers(-3 * STRAY, 3 * STRAY),
                                           0, width - 1)
                elif change == 1:
                    s.agent_y[i] = np.clip(s.agent_y[i] + rng.integers(-3 * STRAY, 3 * STRAY),
                                           0, height - 1)
                elif change == 2:
                    s.agent_x[i], s.agent_y[i] = rng.integers(width), rng.integers(height)
                elif change == 3:
                    s.rel_other[i, rng.integers(s.rel_other.shape[1])] = rng.integers(AGENTS)
                else:
                    s.agent_alive[i] = 0
            counts.append(_far_reference(s, p))
            assert far_count(town._ks, w) == counts[-1], trial
            if trial % 10 == 9:
                for f in fields:
                    getattr(s, f)[...] = saved[f]
    finally:
        for f in fields:
            getattr(s, f)[...] = saved[f]
    assert sum(c == 0 for c in counts) > 20 and sum(c > 0 for c in counts) > 100
