"""``ShardedVectorEnv``: several towns, each a ``TownletVectorEnv`` in its own Ray
actor, seen by a learner as one vector env whose agent slots are the towns' slots
end to end.

Each ``step`` is one remote call per town carrying that town's slice of the action
array, and one array per field coming back (never a call per agent). Ray keeps
large NumPy results in its shared object store and hands them to the driver
without a copy; the only copy is the concatenation into the batch the learner sees.
The towns step concurrently, so a step takes as long as the slowest town."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from townlet.config import TownletConfig
from townlet.rl.layout import Layout
from townlet.rl.vector_env import TownletVectorEnv
from townlet.scale.cluster import LOCAL, connect

__all__ = ["ShardedVectorEnv", "TownShard"]


class TownShard:
    """The actor side: one town's vector env (Ray wraps this class as an actor)."""

    def __init__(self, config: TownletConfig, variant: str | None, seed: int) -> None:
        # No defensive copy: Ray serialises a result when the method returns, before
        # the env's buffers are next overwritten.
        self.env = TownletVectorEnv(config, variant=variant, seed=seed)

    def spaces(self) -> tuple[int, spaces.Space, spaces.Space, Layout]:
        env = self.env
        return env.num_envs, env.single_observation_space, env.single_action_space, env.layout

    def reset(self, seed: int | None) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(seed=seed)

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        return self.env.step(actions)


def _concat(parts: Sequence[Any]) -> Any:
    """Join the towns' results slot-wise (dicts of arrays recursively)."""
    first = parts[0]
    if isinstance(first, dict):
        return {key: _concat([p[key] for p in parts]) for key in first}
    return np.concatenate(parts, axis=0)


class ShardedVectorEnv(VectorEnv):
    """``len(seeds)`` towns of ``config`` (one actor each) as one vector env."""

    def __init__(self, config: TownletConfig, seeds: Sequence[int], *,
                 variant: str | None = None, address: str = LOCAL,
                 workers: int | None = None) -> None:
        if not seeds:
            raise ValueError("ShardedVectorEnv needs at least one town seed")
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
        self._ray = connect(address, workers)
        actor = self._ray.remote(num_cpus=1)(TownShard)
        self.shards = [actor.remote(config, variant, seed) for seed in seeds]
        self.seeds = list(seeds)
        described = self._ray.get([s.spaces.remote() for s in self.shards])
        sizes = [n for n, *_ in described]
        self.layout: Layout = described[0][3]
        """The observation layout (the same for every town: one config, one variant)."""
        self._bounds = np.cumsum(sizes)[:-1]
        self.num_envs = int(sum(sizes))
        obs_space, act_space = described[0][1], described[0][2]
        assert isinstance(obs_space, spaces.Dict) and isinstance(act_space, spaces.Discrete)
        self.single_observation_space, self.single_action_space = obs_space, act_space
        self.observation_space = spaces.Dict({
            key: spaces.Box(space.low.min(), space.high.max(), (self.num_envs, *space.shape),
                            space.dtype)
            for key, space in obs_space.spaces.items() if isinstance(space, spaces.Box)})
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, act_space.n))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset every town (town ``i`` gets ``seed + i`` when ``seed`` is given)."""
        parts = self._ray.get([
            shard.reset.remote(None if seed is None else seed + i)
            for i, shard in enumerate(self.shards)])
        obs, infos = zip(*parts)
        return _concat(obs), _concat(infos)

    def step(self, actions):
        chunks = np.split(np.asarray(actions), self._bounds)
        parts = self._ray.get([shard.step.remote(chunk)
                               for shard, chunk in zip(self.shards, chunks)])
        return tuple(_concat(field) for field in zip(*parts))

    def close_extras(self, **kwargs: Any) -> None:
        for shard in self.shards:
            self._ray.kill(shard)
        self.shards = []
