"""Runs an eventful town of tests/test_world_threads.py on each thread count given and
prints one JSON line per count: state hashes along the way, a digest of every tick's
events, hashes after a snapshot was restored, how many ticks ran in waves before a tie
between far districts was set and whether the tick after it did. A separate process, so NUMBA_NUM_THREADS can
allow more threads than this box has cores."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from townlet.config import default_config, with_agents, with_settings
from townlet.world import World
from townlet.world.actions import N_ACTIONS
from townlet.world.state import St

AGENTS, SEED, TICKS, SAVE_AT, FAR_TIE_AT = 10_000, 11, 1800, 900, 1500
"""10,000 agents are 87 districts on a 10 x 9 grid: a row's last 3 districts run beside the
next row's first ones, on other threads."""


def world(threads: int) -> World:
    cfg = with_settings(with_agents(default_config(), AGENTS), {"kernel.threads": threads},
                        "test")
    return World(cfg, SEED)


def step(w: World, t: int, rng: np.random.Generator) -> bytes:
    """Tick t of the run: interventions (some across districts), random actions, the tick."""
    if t == 10:
        w.perturb("blackout", 40, target=0)
        w.perturb("price_spike", 200, magnitude=2.0, target="all")
        w.set_need(3, "hunger", 0.0)
        w.employment_exit(5)
        w.set_relationship(120, 130, 0.2, 0.3, 0.9)
    if t == 300:
        w.teleport(7, int(w.view("agent_x")[9000]), int(w.view("agent_y")[9000]))
        w.teleport(9500, int(w.view("agent_x")[100]), int(w.view("agent_y")[100]))
        w.force_chat(8, 250)
        w.kill(9)
    if t == 700:
        w.perturb("arranged_meet", 120, target=1)
    if t == 1000:
        w.spawn()
    if t == FAR_TIE_AT:
        w.set_relationship(0, AGENTS - 1, 0.5, 0.5, 0.0)
    if t % 97 < 5:
        w.step(rng.integers(-1, N_ACTIONS, w.n_agents).astype(np.int8))
    else:
        w.step()
    return w.events().tobytes()


def run(threads: int) -> dict:
    w, rng = world(threads), np.random.default_rng(0)
    events, tail, hashes, saved, waves = hashlib.sha256(), hashlib.sha256(), [], None, {}
    for t in range(TICKS):
        batch = step(w, t, rng)
        events.update(batch)
        if t > SAVE_AT:
            tail.update(batch)
        if t % 300 == 299:
            hashes.append(w.state_hash())
        if t == SAVE_AT:
            saved = {k: v.copy() for k, v in w.sections().items()}
            saved_rng = rng.bit_generator.state
        if t == FAR_TIE_AT - 1:
            waves["before_far_tie"] = w.wave_ticks
            waves["rows_before_far_tie"] = w.wave_rows
        if t == FAR_TIE_AT:
            waves["with_far_tie"] = w.wave_ticks - waves["before_far_tie"]
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
            "waves": waves, "stats": {name: int(stats[St[name]]) for name in (
                "CHATS", "COMPLETED", "EXITS", "RESPAWNS", "FAINTS", "DEATHS", "CONFLICTS",
                "KILLS", "SPAWNS")}}


if __name__ == "__main__":
    for n in sys.argv[1:]:
        print(json.dumps(run(int(n))), flush=True)
