"""Runs the eventful town of tests/test_world_threads.py on each thread count given and
prints one JSON line per count: state hashes along the way, a digest of every tick's
events, hashes after a snapshot was restored, and how many agents took the serial pass.
A separate process, so NUMBA_NUM_THREADS can allow more threads than this box has cores."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from townlet.config import default_config, with_agents, with_settings
from townlet.world import World
from townlet.world.actions import N_ACTIONS
from townlet.world.blocks import DEFER_ACT, DEFER_ALL
from townlet.world.state import St

AGENTS, SEED, TICKS, SAVE_AT = 360, 11, 1800, 900


def world(threads: int) -> World:
    cfg = with_settings(with_agents(default_config(), AGENTS), {"kernel.threads": threads},
                        "test")
    return World(cfg, SEED)


def step(w: World, t: int, rng: np.random.Generator) -> bytes:
    """Tick t of the run: interventions that cross districts, random actions, then the tick."""
    if t == 10:
        w.perturb("blackout", 40, target=0)
        w.perturb("price_spike", 200, magnitude=2.0, target="all")
        w.set_need(3, "hunger", 0.0)
        w.employment_exit(5)
        w.set_relationship(120, 130, 0.2, 0.3, 0.9)
    if t == 300:
        w.teleport(7, *map(int, (w.view("agent_x")[200], w.view("agent_y")[200])))
        w.force_chat(8, 250)
        w.kill(9)
    if t == 700:
        w.perturb("arranged_meet", 120, target=1)
    if t == 1000:
        w.spawn()
    if t % 97 < 5:
        w.step(rng.integers(-1, N_ACTIONS, w.n_agents).astype(np.int8))
    else:
        w.step()
    return w.events().tobytes()


def run(threads: int) -> dict:
    w, rng, events, tail = world(threads), np.random.default_rng(0), hashlib.sha256(), hashlib.sha256()
    hashes, serial, saved = [], np.zeros(3, dtype=np.int64), None
    for t in range(TICKS):
        batch = step(w, t, rng)
        events.update(batch)
        if t > SAVE_AT:
            tail.update(batch)
        serial += np.bincount(w._blocks.stage, minlength=3)[:3]
        if t % 300 == 299:
            hashes.append(w.state_hash())
        if t == SAVE_AT:
            saved = {k: v.copy() for k, v in w.sections().items()}
            saved_rng = rng.bit_generator.state
    restored = world(threads)
    restored.load_sections(saved)
    rng.bit_generator.state = saved_rng
    after = hashlib.sha256()
    for t in range(SAVE_AT + 1, TICKS):
        after.update(step(restored, t, rng))
    stats = w.view("stats")
    return {"threads": threads, "hashes": hashes, "events": events.hexdigest(),
            "restored": restored.state_hash(), "final": w.state_hash(),
            "tail_events": tail.hexdigest(), "restored_events": after.hexdigest(),
            "deferred": int(serial[DEFER_ALL]), "deferred_actions": int(serial[DEFER_ACT]),
            "stats": {name: int(stats[St[name]]) for name in (
                "CHATS", "COMPLETED", "EXITS", "RESPAWNS", "FAINTS", "DEATHS", "CONFLICTS")}}


if __name__ == "__main__":
    for n in sys.argv[1:]:
        print(json.dumps(run(int(n))), flush=True)
