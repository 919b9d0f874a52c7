"""Observations, masks, rewards and hashes stay bit-identical across refactors.

The digests below were computed on main at 63d8639, before the encoder's
hand-numbered offsets were replaced by ones derived from ``townlet.rl.layout``;
the world state hash is the one since the state gained the operator levers (``ctl``)
and an exit queue with a slot per agent (issue 18; the state's layout changed,
observations, masks and rewards did not); features, embedding ids, rewards and the
state hash changed again when relationships became persistent (hourly co-presence
and workplace rivalry change ties every hour; again when workplace_rivalry became
0.1), and with individual routines (issue 18: staggered shifts move each agent's shift start, habits and the policy fixes
change what agents do and where they stand; the map too), and with issue 18's closed
economy (the state gained the treasury accounts and rent state; the config gained
``economy.treasury_per_agent``, which changes the config id and so every random stream
keyed by it), and with issue 18's needs with consequences and favourite cafes (the
state gained ``agent_neglect`` (replacing ``agent_starving``), ``agent_favourite`` and five
counters; the config gained ``world.neglect`` and ``routines.favourite_reach``, which
changes the config id and so the random streams; a worker's lunch counts the walk back to
work), and with issue 18's shops (prices follow stock and demand, buyers go to the next
district's shop; the config gained ``scarcity_markup``, ``demand_markup`` and
``markup_bounds``, a new config id; the state gained ``shop_level``, ``shop_markup``, the
``sold_out`` counter and a perturbation table sized by the districts, drawn per
district). Rewards changed with issue 13's reward redesign (needs cost nothing above a
comfort level, chats pay by social deficit, new weights). Masks, and so the random
run and everything after the first tick, changed with issue 13's option commitment (a
running option or affordance allows only ``WAIT``). A change that
means to alter what agents observe or earn (a new feature, a reward term, a world
rule) updates them and says why in its commit message.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="needs the rl extra")

from townlet.config import default_config, with_agents
from townlet.rl import TownletVectorEnv
from townlet.rl.layout import action_space_hash

STEPS = 120
GOLDEN = {  # variant: layout hash, features, map, embedding ids, masks, rewards, state hash
    "compact": ("1e904b08e830b175", "56a3e53cc3afbd09", "9273d3159e3a9209", "a868221728d6c5fe",
                "235d802951a03f72", "a8ceed448e4eccde", "2704326aecb0890c"),
    "hybrid": ("4e88a8e0e1d83d6d", "fe13f0d07ed743f3", "1c22aa4eb982c987", "a868221728d6c5fe",
               "235d802951a03f72", "a8ceed448e4eccde", "2704326aecb0890c"),
    "full": ("5a790d24417bd825", "fe13f0d07ed743f3", "eb2a32b2ea813436", "a868221728d6c5fe",
             "235d802951a03f72", "a8ceed448e4eccde", "2704326aecb0890c"),
}
PARTS = ("layout hash", "features", "map", "embedding ids", "action masks", "rewards",
         "world state hash")


def _digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("variant", list(GOLDEN))
def test_a_run_matches_the_golden_digests(variant):
    """40 agents, random valid actions for 120 ticks (every feature block, map channel
    and mask rule is exercised)."""
    env = TownletVectorEnv(with_agents(default_config(), 40), variant=variant, seed=3)
    obs, infos = env.reset(seed=3)
    rng = np.random.default_rng(7)
    seen = {k: [obs[k].copy()] for k in ("features", "map", "embedding_ids")}
    masks, rewards = [infos["action_mask"].copy()], []
    for _ in range(STEPS):
        pick = rng.random(infos["action_mask"].shape) * infos["action_mask"]
        obs, reward, _, _, infos = env.step(pick.argmax(1).astype(np.int64))
        for k, frames in seen.items():
            frames.append(obs[k].copy())
        masks.append(infos["action_mask"].copy())
        rewards.append(reward.copy())
    got = (env.layout.layout_hash[:16], _digest(seen["features"]), _digest(seen["map"]),
           _digest(seen["embedding_ids"]), _digest(masks), _digest(rewards),
           env.world.state_hash()[:16])
    changed = [part for part, g, want in zip(PARTS, got, GOLDEN[variant]) if g != want]
    assert not changed, f"{variant}: {', '.join(changed)} changed"


def test_the_action_space_hash_is_unchanged():
    assert action_space_hash().startswith("63cbdef21b75b89e")
