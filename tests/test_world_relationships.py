"""Relationships: eviction of the weakest tie, decay toward zero, rivals avoid
each other (no chats, not their objects)."""

from __future__ import annotations

import numpy as np

from tests.worlds import small_world
from townlet.world import policy, social
from townlet.world.geometry import SLOTS, WALKABLE
from townlet.world.town import OBJ


def _ties(w, i):
    return {int(j): (float(t), float(f), float(r)) for j, t, f, r in zip(
        w.view("rel_other")[i], w.view("rel_trust")[i], w.view("rel_fam")[i],
        w.view("rel_riv")[i]) if j >= 0}


def test_full_ledger_evicts_the_weakest_tie_on_both_sides():
    w = small_world(agents=30)
    ks, kp = w._ks, w._kp
    k = w.config.world.relationships.slots
    for n, j in enumerate(range(1, k + 1)):
        social.bump_pair(ks, kp, 0, j, 0.1 * (n + 1), 0.1, 0.0)
    weakest = 1
    social.bump_pair(ks, kp, 0, 20, 0.0, 0.0, 0.9)  # a strong rival takes the slot
    ties = _ties(w, 0)
    assert len(ties) == k and 20 in ties and weakest not in ties
    assert 0 not in _ties(w, weakest), "the evicted agent forgets the tie too"
    assert 0 in _ties(w, 20)


def test_decay_brings_every_dimension_to_zero_and_frees_the_slot():
    w = small_world(agents=10)
    ks, kp = w._ks, w._kp
    social.bump_pair(ks, kp, 0, 1, -0.5, 0.6, 0.7)
    previous = _ties(w, 0)[1]
    rel = w.config.world.relationships
    steps = (rel.decay_per_hour, rel.decay_per_hour, rel.rivalry_decay_per_hour)
    # personality scales the rivalry delta; the slowest dimension to reach 0 frees the tie
    needed = max(int(np.ceil(np.float32(abs(v)) / np.float32(d) - 1e-4))
                 for v, d in zip(previous, steps))
    hours = 0
    while 1 in _ties(w, 0):
        social.decay_ties(ks, kp, 0)
        hours += 1
        if 1 in _ties(w, 0):
            now = _ties(w, 0)[1]
            assert all(abs(a) <= abs(b) for a, b in zip(now, previous))
            previous = now
    assert hours == needed
    assert 0 not in _ties(w, 1)


def test_rivals_do_not_chat_and_avoid_each_others_objects():
    w = small_world(agents=10)
    ks, kp = w._ks, w._kp
    for i in range(10):
        w.possess(i)
    street = np.argwhere(w.view("tile_kind") == 0)
    x, y = (int(v) for v in street[len(street) // 2][::-1])
    w.teleport(0, x, y)
    w.teleport(1, x, y)
    assert social.chat(ks, kp, 0, w.tick, True), "neighbours chat"
    w.set_relationship(0, 1, 0.0, 0.0, 1.0)  # (a bump is scaled by personality)
    assert social.is_rival(ks, kp, 0, 1)
    assert not social.chat(ks, kp, 0, w.tick, True), "rivals refuse to chat"
    cafe = int(w.view("district_cafe")[0])
    counters = [o for o in range(cafe * SLOTS, cafe * SLOTS + SLOTS)
                if w.view("obj_type")[o] == OBJ.COUNTER]
    w.sections()["agent_food"][0] = 0
    first = policy._pick_in(ks, kp, 0, cafe, OBJ.COUNTER, w.tick)
    assert first == counters[0]
    w.sections()["obj_holder"][first] = 1  # the rival holds the best counter
    for o in counters[1:]:  # every other counter has a line of one
        w.sections()["obj_q_len"][o] = 1
    assert policy._pick_in(ks, kp, 0, cafe, OBJ.COUNTER, w.tick) != first
    w.sections()["rel_riv"][0, :] = 0.0
    assert policy._pick_in(ks, kp, 0, cafe, OBJ.COUNTER, w.tick) == first


def test_partner_order_is_exact_for_a_large_policy_counter():
    """The neighbour scan starts at cell (policy counter + t + i) mod 9, exactly: a
    counter near 2**60 must not be rounded (uint64 plus int64 is a float64 in Numba)."""
    w = small_world(agents=10)
    ks, kp = w._ks, w._kp
    for i in range(10):
        w.possess(i)
    free = np.isin(w.view("tile_kind"), WALKABLE)
    h, wd = free.shape
    x, y = next((x, y) for y in range(1, h - 1) for x in range(1, wd - 1)
                if free[y - 1:y + 2, x - 1:x + 2].all())  # a walkable 3x3 patch
    w.teleport(0, x, y)
    for cell in range(1, 9):  # one neighbour on each of the other cells, cell 0 last
        w.teleport(cell, x + cell % 3 - 1, y + cell // 3 - 1)
    w.teleport(9, x - 1, y - 1)
    occupant = {cell: cell for cell in range(1, 9)} | {0: 9}  # agent 4 shares 0's tile
    t = 5
    for counter in (2**60 + 100, 2**60 + 101, 2**63 + 77, 2**64 - 1):
        w.sections()["rng_counter"][social.POLICY] = counter
        start = (counter + t + 0) % 9  # agent 0
        assert social._partner(ks, kp, 0, t, social.ANYONE) == occupant[start], hex(counter)
