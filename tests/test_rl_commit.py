"""Option commitment on a real town: a chosen option holds the slot until it ends
(whatever the policy passes meanwhile), a need falling below its critical level
breaks it for one decision, and turning it off restores per-tick choices."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="needs the rl extra")

from townlet.config import TownletConfig, default_config, with_agents
from townlet.config.world import NEEDS
from townlet.rl import TownletVectorEnv
from townlet.world.actions import Action

N = 16


def config(**commit) -> TownletConfig:
    raw = msgspec.to_builtins(with_agents(default_config(), N))
    raw["rl"]["commit"] = commit
    return msgspec.convert(raw, TownletConfig)


def test_an_option_holds_the_slot_until_it_ends():
    env = TownletVectorEnv(config(), copy=True)
    obs, infos = env.reset(seed=3)
    assert infos["decide"][infos["controlled"]].all()
    lay = env.layout
    goal_work, active = lay.feature_index("goal_work"), lay.feature_index("option_active")
    obs, _r, _te, _tr, infos = env.step(np.full(N, Action.GO_WORK, np.int64))
    held = obs["features"][:, active] == 1
    assert held.sum() > N // 2
    running = held.copy()
    seen_end = np.zeros(N, bool)
    for _ in range(400):
        mask, decide = infos["action_mask"], infos["decide"]
        # committed slots: WAIT only and no decision; the rest may decide
        assert not decide[running].any()
        assert (mask[running].sum(1) == 1).all() and mask[running, Action.WAIT].all()
        # the policy asks for another option everywhere; committed slots keep theirs
        obs, _r, _te, _tr, infos = env.step(np.full(N, Action.GO_EAT, np.int64))
        still = running & (obs["features"][:, active] == 1)
        assert (obs["features"][still, goal_work] == 1).all()
        ended = running & ~still
        assert infos["decide"][ended & infos["controlled"]].all()  # the end is a decision
        seen_end |= ended
        running = still
        if not running.any():
            break
    assert seen_end.any()


def test_a_need_falling_below_critical_breaks_the_commitment_once():
    env = TownletVectorEnv(config())
    _obs, infos = env.reset(seed=4)
    _obs, _r, _te, _tr, infos = env.step(np.full(N, Action.GO_SLEEP, np.int64))
    held = ~infos["decide"] & infos["controlled"]
    i = int(np.flatnonzero(held)[0])
    hunger = NEEDS.index("hunger")
    crit = env.config.world.needs.hunger.critical
    needs = env.world.sections()["agent_needs"]
    needs[i, hunger] = crit + 1e-4  # falls below critical during the next tick's decay
    _obs, _r, _te, _tr, infos = env.step(np.zeros(N, np.int64))
    assert needs[i, hunger] < crit
    assert infos["decide"][i] and infos["action_mask"][i].sum() > 1
    _obs, _r, _te, _tr, infos = env.step(np.zeros(N, np.int64))  # WAIT: continue
    assert not infos["decide"][i]  # still critical, but only the crossing breaks


def test_without_commitment_every_tick_decides():
    env = TownletVectorEnv(config(enabled=False))
    _obs, infos = env.reset(seed=3)
    _obs, _r, _te, _tr, infos = env.step(np.full(N, Action.GO_WORK, np.int64))
    free = infos["controlled"] & (infos["action_mask"].sum(1) > 1)
    assert (infos["decide"] == free).all() and free.any()
    assert infos["action_mask"][free, Action.CANCEL].all()
    assert infos["action_mask"][free, Action.GO_EAT].any()
