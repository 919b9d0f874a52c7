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
        return self._per_agent(obs, infos, self.agents)

    def _arrivals(self, slots) -> list[str]:
        names = [self._name(int(s), int(self.vec.track.episodes[s])) for s in slots]
        for name, s in zip(names, slots):
            self._slot[name] = int(s)
        self.possible_agents.extend(names)
        return names

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("every agent is done: call reset()")
        before = self.agents
        slots = self._live_slots(before)
        batch = np.full(self.vec.num_envs, Action.WAIT, dtype=np.int64)
        batch[self._action_slots(actions)] = self._action_codes(actions)
        obs, rew, term, trunc, infos = self.vec.step(batch)
        rewards = dict(zip(before, rew[slots].tolist()))
        term_l, trunc_l = term[slots].tolist(), trunc[slots].tolist()
        terms, truncs = dict(zip(before, term_l)), dict(zip(before, trunc_l))
        staying = [a for a, te, tr in zip(before, term_l, trunc_l) if not (te or tr)]
        arrived = self._arrivals(np.flatnonzero(infos["episode_start"] & infos["alive"]))
        while not staying and not arrived and self.vec.pending_arrivals():
            obs, _, _, _, infos = self.vec.step(np.zeros(self.vec.num_envs, np.int64))
            arrived = self._arrivals(np.flatnonzero(infos["episode_start"] & infos["alive"]))
        for a in arrived:
            rewards[a], terms[a], truncs[a] = 0.0, False, False
        everyone = before + arrived
        self.agents = staying + arrived
        per_obs, per_infos = self._per_agent(obs, infos, everyone)
        return per_obs, rewards, terms, truncs, per_infos

    def _live_slots(self, agents: list[str]) -> np.ndarray:
        return np.fromiter(map(self._slot.__getitem__, agents), np.int64, len(agents))

    def _action_slots(self, actions: dict[str, Any]) -> np.ndarray:
        """Slot of each agent named in ``actions``; ValueError for one not in ``agents``."""
        live = dict.fromkeys(self.agents)
        slots = [self._slot[a] if a in live else -1 for a in actions]
        if -1 in slots:
            agent = list(actions)[slots.index(-1)]
            raise ValueError(f"unknown or finished agent {agent!r}")
        return np.array(slots, np.int64)

    @staticmethod
    def _action_codes(actions: dict[str, Any]) -> np.ndarray:
        """The actions as int64 codes; ValueError naming the first that is not an int in
        [0, N_ACTIONS) (checked on the whole batch at once: a float or anything else
        makes the batch non-integer, and then the first such value is named)."""
        values = list(actions.values())
        codes = np.array(values) if values else np.zeros(0, np.int64)
        if codes.dtype.kind in "iub":
            ok = (codes >= 0) & (codes < N_ACTIONS)
        else:
            ok = np.array([isinstance(v, (int, np.integer)) and 0 <= v < N_ACTIONS
                           for v in values], np.bool_)
        if not ok.all():
            k = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"action for {list(actions)[k]!r} must be an int in "
                             f"[0, {N_ACTIONS}), got {values[k]!r}")
        return codes.astype(np.int64)

    def _per_agent(self, obs, infos, agents):
        """(observations, infos) per agent: views of one copy of each batch (so the
        dicts outlive the step), built from lists rather than per-element indexing."""
        m, f, ids = (list(obs[k].copy()) for k in ("map", "features", "embedding_ids"))
        mask = list(infos["action_mask"].astype(np.int8))
        comp = list(infos["reward_components"].copy())
        possessed, controlled = infos["possessed"].tolist(), infos["controlled"].tolist()
        acted, end_kind = infos["acted"].tolist(), infos["end_kind"].tolist()
        slots = [self._slot[a] for a in agents]
        per_obs = {a: {"map": m[s], "features": f[s], "embedding_ids": ids[s],
                       "action_mask": mask[s]} for a, s in zip(agents, slots)}
        per_infos = {a: {"slot": s, "possessed": possessed[s], "controlled": controlled[s],
                         "acted": acted[s], "end_kind": end_kind[s], "action_mask": mask[s],
                         "reward_components": comp[s]} for a, s in zip(agents, slots)}
        return per_obs, per_infos

    def close(self) -> None:
        self.vec.close()
