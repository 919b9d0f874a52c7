"""Score a policy on a town: the figures that tell policies apart.

``score(env, policy, ticks)`` runs any batched policy (a baseline from
``townlet.rl.baselines`` or a learned ``Policy``) from ``env.reset(seed)`` and
reports the mean episode return, deaths, the share of agent-ticks with a
critical need, and how often a reward clip changed a reward.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from msgspec import Struct

from townlet.config.world import NEEDS
from townlet.rl.rewards import COMPONENTS, END_DEATH

__all__ = ["Score", "score"]

Act = Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]
_CLIP = COMPONENTS.index("clip_adjustment")


class Score(Struct, frozen=True, kw_only=True):
    """One policy's figures over one run."""

    policy: str
    agents: int
    ticks: int
    seed: int
    episodes: int
    """Episodes that ended (terminated or truncated) during the run."""
    mean_return: float
    """Mean return of those episodes."""
    reward_per_tick: float
    """Mean reward per policy transition (independent of episode length)."""
    deaths: int
    deaths_per_agent_day: float
    critical_share: float
    """Share of living agent-ticks with any need below its ``critical`` level."""
    clipped_share: float
    """Share of policy transitions a clip (or the death window) changed."""


def score(env, policy: Act, ticks: int, *, seed: int = 0, name: str = "policy") -> Score:
    """Run ``policy`` on ``env`` for ``ticks`` steps from ``reset(seed=seed)``."""
    crit = np.array([getattr(env.config.world.needs, n).critical for n in NEEDS], np.float32)
    obs, infos = env.reset(seed=seed)
    returns: list[np.ndarray] = []
    reward_sum = transitions = deaths = critical = living = clipped = 0.0
    for _ in range(ticks):
        obs, reward, terminated, _, infos = env.step(policy(obs, infos["action_mask"]))
        acted = infos["acted"]
        done = infos["_episode"]
        returns.append(infos["episode"]["r"][done].copy())
        reward_sum += float(reward[acted].sum())
        transitions += int(acted.sum())
        clipped += int((infos["reward_components"][acted, _CLIP] != 0).sum())
        deaths += int((terminated & (infos["end_kind"] == END_DEATH)).sum())
        alive = infos["alive"]
        living += int(alive.sum())
        critical += int(((env.world.view("agent_needs") < crit).any(1) & alive).sum())
    ended = np.concatenate(returns) if returns else np.zeros(0)
    day = env.config.world.ticks_per_day
    return Score(policy=name, agents=env.num_envs, ticks=ticks, seed=seed,
                 episodes=len(ended), mean_return=float(ended.mean()) if len(ended) else 0.0,
                 reward_per_tick=reward_sum / max(transitions, 1), deaths=int(deaths),
                 deaths_per_agent_day=deaths / (env.num_envs * ticks / day),
                 critical_share=critical / max(living, 1),
                 clipped_share=clipped / max(transitions, 1))
