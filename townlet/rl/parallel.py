"""``parallel_env(config, ...)``: a PettingZoo ``ParallelEnv`` over the vector env.

The compatible path: agents are string ids, observations and infos are dicts
per agent, so each step costs Python work per agent (use ``TownletVectorEnv``
for throughput). An agent id names one episode of one slot: ``agent_<slot>``
first, then ``agent_<slot>#<k>`` for the k-th later episode of that slot, so a
newcomer (or an agent whose episode was truncated) appears under a new id and
finished ids never come back. ``possible_agents`` lists every id seen since the
last reset (the population renews itself, so there is no finite list up front).

Each agent's observation is ``{"map", "features", "embedding_ids",
"action_mask"}``; infos carry ``possessed`` and ``controlled`` (possessed agents
stay in ``agents`` but their actions are ignored: exclude them from training),
``acted``, ``end_kind``, ``slot`` and ``reward_components``. All agents share
one action-space and one observation-space object. When every slot is empty
but newcomers are due, ``step`` advances the town until one arrives.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from townlet.config import TownletConfig
from townlet.rl.vector_env import TownletVectorEnv
from townlet.world.actions import N_ACTIONS, Action

__all__ = ["TownletParallelEnv", "parallel_env"]


def parallel_env(config: TownletConfig | None = None, *, variant: str | None = None,
                 seed: int | None = None) -> TownletParallelEnv:
    """A PettingZoo ParallelEnv of the town described by ``config``."""
    return TownletParallelEnv(config, variant=variant, seed=seed)


class TownletParallelEnv(ParallelEnv):
    """PettingZoo ParallelEnv wrapper (see module doc)."""

    metadata: ClassVar[dict] = {"name": "townlet_v1", "render_modes": [], "is_parallelizable": True}

    def __init__(self, config: TownletConfig | None = None, *, variant: str | None = None,
                 seed: int | None = None):
        self.vec = TownletVectorEnv(config, variant=variant, seed=seed)
        single = self.vec.single_observation_space
        assert isinstance(single, spaces.Dict)
        self._obs_space = spaces.Dict({**single.spaces,
                                       "action_mask": spaces.Box(0, 1, (N_ACTIONS,), np.int8)})
        self._act_space = spaces.Discrete(N_ACTIONS)
        self.agents: list[str] = []
        self.possible_agents: list[str] = []
        self._slot: dict[str, int] = {}

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_space

    @staticmethod
    def _name(slot: int, episode: int) -> str:
        return f"agent_{slot}" if episode == 0 else f"agent_{slot}#{episode}"

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.vec.reset(seed=seed, options=options)
        self.possible_agents = []
        self._slot = {}
        self.agents = self._arrivals(np.flatnonzero(infos["controlled"] | infos["alive"]))
        return self._per_agent_obs(obs, infos, self.agents), \
            self._per_agent_infos(infos, self.agents)

    def _arrivals(self, slots) -> list[str]:
        names = [self._name(int(s), int(self.vec.track.episodes[s])) for s in slots]
        for name, s in zip(names, slots):
            self._slot[name] = int(s)
        self.possible_agents.extend(names)
        return names

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("every agent is done: call reset()")
        batch = np.full(self.vec.num_envs, Action.WAIT, dtype=np.int64)
        live = set(self.agents)
        for agent, action in actions.items():
            if agent not in live:
                raise ValueError(f"unknown or finished agent {agent!r}")
            if not isinstance(action, (int, np.integer)) or not 0 <= action < N_ACTIONS:
                raise ValueError(f"action for {agent!r} must be an int in [0, {N_ACTIONS}), "
                                 f"got {action!r}")
            batch[self._slot[agent]] = action
        before = self.agents
        obs, rew, term, trunc, infos = self.vec.step(batch)
        slots = [self._slot[a] for a in before]
        rewards = dict(zip(before, rew[slots].tolist()))
        terms = dict(zip(before, term[slots].tolist()))
        truncs = dict(zip(before, trunc[slots].tolist()))
        staying = [a for a in before if not (terms[a] or truncs[a])]
        arrived = self._arrivals(np.flatnonzero(infos["episode_start"] & infos["alive"]))
        while not staying and not arrived and self.vec.pending_arrivals():
            obs, _, _, _, infos = self.vec.step(np.zeros(self.vec.num_envs, np.int64))
            arrived = self._arrivals(np.flatnonzero(infos["episode_start"] & infos["alive"]))
        for a in arrived:
            rewards[a], terms[a], truncs[a] = 0.0, False, False
        everyone = before + arrived
        self.agents = staying + arrived
        return (self._per_agent_obs(obs, infos, everyone), rewards, terms, truncs,
                self._per_agent_infos(infos, everyone))

    def _per_agent_obs(self, obs, infos, agents):
        m, f, ids = obs["map"].copy(), obs["features"].copy(), obs["embedding_ids"].copy()
        mask = infos["action_mask"].astype(np.int8)
        return {a: {"map": m[s], "features": f[s], "embedding_ids": ids[s],
                    "action_mask": mask[s]}
                for a in agents for s in (self._slot[a],)}

    def _per_agent_infos(self, infos, agents):
        comp = infos["reward_components"].copy()
        mask = infos["action_mask"].astype(np.int8)
        return {a: {"slot": s, "possessed": bool(infos["possessed"][s]),
                    "controlled": bool(infos["controlled"][s]), "acted": bool(infos["acted"][s]),
                    "end_kind": int(infos["end_kind"][s]), "action_mask": mask[s],
                    "reward_components": comp[s]}
                for a in agents for s in (self._slot[a],)}

    def close(self) -> None:
        self.vec.close()
