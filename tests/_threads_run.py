"""Runs an eventful town of tests/test_world_threads.py on each thread count given and
prints one JSON line per count: state hashes along the way, a digest of every tick's
events, hashes after a snapshot was restored, how many ticks ran in waves before a tie
between far districts was set and whether the tick after it did. With ``far`` first,
the tick of ``far_race`` instead. A separate process, so NUMBA_NUM_THREADS can allow
more threads than this box has cores."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from townlet.config import default_config, with_agents, with_settings
from townlet.world import World
from townlet.world.actions import N_ACTIONS, Action
from townlet.world.events import EventCode
from townlet.world.state import St

AGENTS, SEED, TICKS, SAVE_AT, FAR_TIE_AT = 10_000, 11, 1800, 900, 1500
"""10,000 agents are 87 districts on a 10 x 9 grid: a row's last 3 districts run beside the
next row's first ones, on other threads."""


def world(threads: int, agents: int = AGENTS) -> World:
    cfg = with_settings(with_agents(default_config(), agents), {"kernel.threads": threads},
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


RACE_AGENTS, RACE_ROW = 30_000, 5
"""``far_race``'s town, 17 districts a row (a row's first district may run while the row
above runs its last ten), and the row of the tie partner's district."""


def _race_districts(w: World) -> tuple[int, int, int]:
    """``far_race``'s districts: the tie partner's (RACE_ROW, the last column), the
    neighbour's (the next row, the first column: with the pipeline its turns may run
    while the partner's row runs its last columns, more than RADIUS away) and the far
    agent's home (three rows below the partner's, three columns before it: within TIES)."""
    dw = w.params.districts_w
    return RACE_ROW * dw + dw - 1, (RACE_ROW + 1) * dw, (RACE_ROW + 3) * dw + dw - 4


def _alone(w: World, i: int) -> bool:
    """Whether living, idle agent i has no other agent within one tile."""
    x, y = (int(w.view(f)[i]) for f in ("agent_x", "agent_y"))
    xs, ys = w.view("agent_x").astype(int), w.view("agent_y").astype(int)
    near = (np.abs(xs - x) <= 1) & (np.abs(ys - y) <= 1) & w.alive
    return bool(w.alive[i] and w.view("agent_aff")[i] < 0 and near.sum() == 1)


def far_race(threads: int) -> dict:
    """One tick in which an agent far from home (teleported onto the tile of an idle
    agent with no other neighbour, who then talks to it) has its ties row written by
    that neighbour (a chat) and by a tie partner near its home (the hourly decay frees
    their weak tie, clearing its slot in the far agent's row too): the tick's rows on
    the threads, whether both writes happened, its state hash and events, and the next
    tick's rows (the chat tied the two far apart)."""
    w = world(threads, RACE_AGENTS)
    per, hour = w.params.residents_per_district, w.params.hour
    tie_at, chat_at, home_at = _race_districts(w)
    partner = tie_at * per
    far = next(i for i in range(home_at * per, w.n_agents) if (i - partner) % hour)
    while (partner + w.tick + 1) % hour or (far + w.tick + 1) % hour == 0 or w.tick < 60:
        w.step()  # to the tick of the partner's hour mark, not the far agent's
    near = next(i for i in range(chat_at * per, chat_at * per + per) if _alone(w, i))
    w.set_relationship(far, partner, 0.0, w.params.decay_hour / 2, 0.0)
    w.teleport(far, int(w.view("agent_x")[near]), int(w.view("agent_y")[near]))
    actions = np.full(w.n_agents, Action.SCRIPTED, dtype=np.int8)
    actions[near] = Action.TALK
    rows = w.wave_rows
    w.step(actions)
    events = w.events()
    chats = events[events["code"] == EventCode.CHAT_SUCCESS]
    ties = w.view("rel_other")[far].tolist()
    out = {"threads": threads, "rows": w.wave_rows - rows, "hash": w.state_hash(),
           "events": hashlib.sha256(events.tobytes()).hexdigest(),
           "chat": bool(((chats["agent"] == near) & (chats["other"] == far)).any()),
           "untied": partner not in ties and near in ties}
    rows = w.wave_rows
    w.step()
    out["next_rows"] = w.wave_rows - rows
    return out


if __name__ == "__main__":
    scenario = far_race if sys.argv[1:2] == ["far"] else run
    for n in sys.argv[2 if scenario is far_race else 1:]:
        print(json.dumps(scenario(int(n))), flush=True)
