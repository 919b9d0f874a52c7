"""``TownletVectorEnv``: the fast path. One town, every agent slot a sub-env.

``reset``/``step`` take and return arrays for all N agent slots, following
Gymnasium's ``VectorEnv`` conventions: ``obs`` is a dict of batched arrays
(``map`` (N, C, W, W), ``features`` (N, F), ``embedding_ids`` (N, 1+S)),
rewards/terminations/truncations are (N,) arrays and ``infos`` is a dict of
(N, ...) arrays. One ``step`` is one world tick; all per-agent work runs in
compiled kernels, so Python cost per step does not grow with N.

Episodes and autoreset (per slot; see docs/rl.md):

- A transition (o_t, a_t, r_t, terminated_t, truncated_t) is a policy
  transition iff ``infos["acted"]`` is true for that slot: the slot's agent
  was alive and policy-controlled when a_t was chosen and still under policy
  control during the tick. Train only on those.
- a_t is a *decision* iff ``infos["decide"]`` was true when it was chosen
  (``townlet.rl.commit``): a committed option holds the other slots (their mask
  is ``WAIT`` only and ``step`` continues the option whatever they pass).
- When an agent dies, leaves, or its slot is handed to a newcomer,
  ``terminated`` is true and the reward carries the terminal penalty. The slot
  then stays empty (zero observation, only ``WAIT`` allowed, actions ignored)
  until the world spawns a newcomer; the step that returns the newcomer's
  first observation sets ``infos["episode_start"]`` and ``infos["new_agent"]``.
  If the replacement happens within one tick, both ``terminated`` and
  ``episode_start`` are true and ``obs`` is already the newcomer's.
- After ``rl.truncate_ticks`` transitions, ``truncated`` is true; the agent
  lives on, so the returned observation is both the bootstrap observation and
  the first of the next episode (``episode_start`` true, no action ignored).
  This is ``AutoresetMode.SAME_STEP`` without a separate final observation.

Returned arrays are the env's own buffers, overwritten by the next call
(copy what you keep) unless ``copy=True``. Do not write into them: the next
``map`` is drawn incrementally on top of the last (``townlet.rl.window``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from numba import njit

from townlet.config import TownletConfig, default_config
from townlet.rl.after_tick import after_tick, info_flags, step_buffers
from townlet.rl.baselines import GOAL_ACTION, allowed, scripted_actions
from townlet.rl.encode import encode
from townlet.rl.episodes import StepOut, Track, new_step_out, new_track
from townlet.rl.events import event_categories
from townlet.rl.layout import Layout, build_layout
from townlet.rl.masks import action_masks
from townlet.rl.rewards import COMPONENTS, build_reward_statics
from townlet.rl.slots import slot_metrics
from townlet.rl.statics import build_statics
from townlet.rl.window import new_window_scratch
from townlet.world import World
from townlet.world.actions import N_ACTIONS, Action
from townlet.world.params import kernel_params
from townlet.world.state import KernelState, State, kernel_state

__all__ = ["RL_SECTIONS", "TownletVectorEnv"]

RL_SECTIONS = tuple(name for name in Track._fields if name != "scratch")
"""Tracker arrays saved by ``state_sections`` (as ``rl_<name>``)."""


@njit(cache=True)
def _policy_actions(actions, controlled, decide, out):
    """Copy actions of controlled slots (others: -1 = scripted), WAIT where a committed
    option holds the slot; first bad index or -1. ``Action.SCRIPTED`` (-1) is accepted:
    the world's scripted controller acts (and continues a running option)."""
    for i in range(actions.shape[0]):
        a = actions[i]
        if a < -1 or a >= N_ACTIONS:
            return i
        if not controlled[i]:
            out[i] = -1
        elif decide[i] or a < 0:
            out[i] = a
        else:
            out[i] = 0  # Action.WAIT: continue the committed option
    return -1


class TownletVectorEnv(VectorEnv):
    """A whole town as a batch of per-agent-slot environments (see module doc)."""

    def __init__(self, config: TownletConfig | None = None, *, variant: str | None = None,
                 seed: int | None = None, copy: bool = False, world: World | None = None):
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
        self.config = config if config is not None else default_config()
        if not isinstance(self.config, TownletConfig):
            raise TypeError(f"config must be a TownletConfig, got {type(self.config).__name__}")
        self.layout: Layout = build_layout(self.config, variant)
        self.copy = copy
        self._seed_seq = np.random.SeedSequence(seed)
        self._attached = world is not None
        """Observing a world that something else steps (``observe``, never ``step``)."""
        if world is not None and (seed is not None or world.config is not self.config):
            raise ValueError("an attached world brings its own config and seed: pass "
                             "config=world.config and no seed")
        self.world = world if world is not None else World(self.config,
                                                           seed=self._next_seed(seed))
        n = self.world.n_agents
        self.num_agents = self.num_envs = n
        emb = self.config.rl.embeddings
        self.max_slots = emb.max_slots or 2 * n
        if self.max_slots < n:
            raise ValueError(f"rl.embeddings.max_slots ({self.max_slots}) must be at least the "
                             f"number of agent slots ({n})")
        self.reward_components = COMPONENTS
        self._build_spaces()
        self._started = False

    # ----------------------------------------------------------------- spaces
    def _build_spaces(self) -> None:
        lay, n = self.layout, self.num_envs
        self.single_observation_space = spaces.Dict({
            "map": spaces.Box(0.0, 1.0, lay.map_shape, np.float32),
            "features": spaces.Box(-1.0, 1.0, (lay.n_features,), np.float32),
            "embedding_ids": spaces.Box(-1, self.max_slots - 1, (1 + lay.social_slots,),
                                        np.int32),
        })
        self.single_action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = spaces.Dict({
            "map": spaces.Box(0.0, 1.0, (n, *lay.map_shape), np.float32),
            "features": spaces.Box(-1.0, 1.0, (n, lay.n_features), np.float32),
            "embedding_ids": spaces.Box(-1, self.max_slots - 1, (n, 1 + lay.social_slots),
                                        np.int32),
        })
        self.action_space = spaces.MultiDiscrete(np.full(n, N_ACTIONS))

    # ------------------------------------------------------------- lifecycle
    def _next_seed(self, seed: int | None) -> int:
        if seed is not None:
            if not isinstance(seed, (int, np.integer)) or seed < 0:
                raise ValueError(f"seed must be a non-negative int, got {seed!r}")
            self._seed_seq = np.random.SeedSequence(int(seed))
            return int(seed)
        child = self._seed_seq.spawn(1)[0]
        return int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Build a fresh town (``World(config, seed)``) and return every slot's first obs
        (an attached world is kept: episodes restart from its current state)."""
        if self._attached and seed is not None:
            raise ValueError("an attached world cannot be reseeded")
        if (self._started or seed is not None) and not self._attached:
            self.world = World(self.config, seed=self._next_seed(seed))
        if self.world.n_agents != self.num_envs:
            raise RuntimeError("the world's agent capacity changed between resets")
        self._ks: KernelState | State | None = None
        self._clock: np.ndarray | None = None
        st = self._state()
        n = self.num_envs
        self._town_tables()
        self._rewards = build_reward_statics(self.config, event_categories())
        self.track: Track = new_track(n, self.max_slots)
        self._out: StepOut = new_step_out(n)
        self._comp64 = np.zeros(self._out.comp.shape, np.float64)
        self._controlled = np.zeros(n, np.bool_)
        self._mask = np.zeros((n, N_ACTIONS), np.bool_)
        self._decide = np.zeros(n, np.bool_)
        self._actions = np.zeros(n, np.int8)
        self._flags = {key: np.zeros(n, np.bool_) for key in ("alive", "possessed", "ctx_reset",
                                                             "done")}
        lay = self.layout
        self._obs = {"map": np.zeros((n, *lay.map_shape), np.float32),
                     "features": np.zeros((n, lay.n_features), np.float32),
                     "embedding_ids": np.zeros((n, 1 + lay.social_slots), np.int32)}
        self._bind()
        self._after_tick(st)
        self._started = True
        return self._result(self._obs), self._infos()

    def step(self, actions):
        """Apply one action per slot, run one tick; (obs, rewards, terminated, truncated, infos)."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if self._attached:
            raise RuntimeError("this env observes a world stepped elsewhere: use observe()")
        actions = self._check_actions(actions)
        if not self._any_alive and not self.world.view("agent_alive").any() \
                and not self.pending_arrivals():
            raise RuntimeError("every agent is done and no newcomer is due: call reset()")
        bad = _policy_actions(actions, self._controlled, self._decide, self._actions)
        if bad >= 0:
            raise ValueError(f"actions[{bad}] = {actions[bad]} is out of range "
                             f"[0, {N_ACTIONS}) (or -1: Action.SCRIPTED)")
        self.world.step(self._actions)
        self._after_tick(self._state())
        out = self._out
        return (self._result(self._obs), self._result(out.reward),
                self._result(out.terminated), self._result(out.truncated), self._infos())

    def observe(self):
        """After the attached world stepped (``world=``): rewards, episodes, observations
        and masks of that tick; returns what ``step`` returns."""
        if not self._started:
            raise RuntimeError("call reset() before observe()")
        self._after_tick(self._state())
        out = self._out
        return (self._result(self._obs), self._result(out.reward),
                self._result(out.terminated), self._result(out.truncated), self._infos())

    def close_extras(self, **kwargs: Any) -> None:
        self._started = False

    # -------------------------------------------------------------- helpers
    def _town_tables(self) -> None:
        """Constants of the current town (again after loading another town's state)."""
        self._statics = build_statics(self.config, self.layout, self.world.sections(),
                                      self.max_slots)
        self._kp = kernel_params(self.world.params)
        self._lm_key = np.full(self.num_envs, -1, np.int64)
        self._ws = new_window_scratch(self._statics.map, self.num_envs)

    def _bind(self) -> None:
        """The per-step struct over the current tables and buffers (after a reset, and
        again when a state load rebuilds the town's tables)."""
        obs, cc, f = self._obs, self.config.rl.commit, self._flags
        self._buffers = step_buffers(
            self._statics, self._rewards, self.track, self._out, self._controlled, self._comp64,
            obs["map"], obs["features"], obs["embedding_ids"], self._mask,
            self._lm_key, self._ws, cc.enabled, cc.break_on_critical, self._decide, f["alive"],
            f["possessed"], f["ctx_reset"], f["done"])

    def _state(self) -> KernelState | State:
        """The world's arrays as one by-reference struct (rebuilt only if they changed:
        a state load replaces every array, the clock included)."""
        clock = self.world.view("clock").base
        if self._ks is None or clock is not self._clock:
            sections = self.world.sections()
            self._clock = sections["clock"]
            self._ks = kernel_state(State._make(sections[name] for name in State._fields))
        return self._ks

    def _after_tick(self, st: KernelState | State) -> None:
        self._any_alive = after_tick(st, self._kp, self._buffers)

    def _check_actions(self, actions) -> np.ndarray:
        arr = np.asarray(actions)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"actions must be an integer array, got dtype {arr.dtype}")
        if arr.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {arr.shape}")
        return arr

    def scripted_actions(self) -> np.ndarray:
        """The world's scripted controller as actions for the next step: per slot,
        the option for the goal it would pursue, WAIT while an affordance runs,
        CANCEL where it would wake a sleeper to eat; disallowed choices become
        WAIT (a fresh (N,) int64 array). The public baseline and the
        behaviour-cloning teacher (``townlet.rl.baselines.ScriptedPolicy``)."""
        if not self._started:
            raise RuntimeError("call reset() before scripted_actions()")
        out = np.zeros(self.num_envs, np.int8)
        scripted_actions(self._state(), self._kp, self._controlled, GOAL_ACTION, out)
        return allowed(out.astype(np.int64), self._mask)

    def pending_arrivals(self) -> bool:
        """Whether the world will spawn a newcomer into some empty slot."""
        return bool((self.world.view("agent_respawn_at") >= 0).any())

    def _result(self, value):
        if not self.copy:
            return value
        if isinstance(value, dict):
            return {k: v.copy() for k, v in value.items()}
        return value.copy()

    def _infos(self) -> dict[str, Any]:
        """The infos dict; its boolean flags are filled into the env's own buffers by
        ``after_tick`` (no allocation per step), like every other array it returns."""
        out, b = self._out, self._flags
        done = b["done"]
        return self._result({
            "action_mask": self._mask,
            "controlled": self._controlled,
            "decide": self._decide,
            "acted": out.acted,
            "alive": b["alive"],
            "possessed": b["possessed"],
            "episode_start": out.episode_start,
            "new_agent": out.new_agent,
            "ctx_reset": b["ctx_reset"],
            "end_kind": out.end_kind,
            "reward_components": out.comp,
            "episode_index": self.track.episodes,
            "episode": {"r": out.final_return, "l": out.final_length, "_r": done, "_l": done},
            "_episode": done,
        })

    # ------------------------------------------------------------ snapshots
    def state_sections(self) -> dict[str, np.ndarray]:
        """Copies of the world's sections plus the env's own (``rl_*``: episode
        trackers, reward accumulators, death windows, embedding slots)."""
        if not self._started:
            raise RuntimeError("call reset() before state_sections()")
        out = {name: np.array(arr, copy=True) for name, arr in self.world.sections().items()}
        for name in RL_SECTIONS:
            out[f"rl_{name}"] = np.array(getattr(self.track, name), copy=True)
        out["rl_ctx_reset"] = self._out.ctx_reset.copy()
        out["rl_decide"] = self._decide.copy()
        return out

    def load_state_sections(self, sections: dict[str, np.ndarray]):
        """Resume from ``state_sections()`` output; returns (obs, infos) as reset does.

        Raises ValueError naming the first section whose name, dtype or shape does
        not match this env.
        """
        if not self._started:
            self.reset()
        rl_names = [f"rl_{n}" for n in RL_SECTIONS] + ["rl_ctx_reset", "rl_decide"]
        targets = [getattr(self.track, n) for n in RL_SECTIONS] + [self._out.ctx_reset,
                                                                   self._decide]
        missing = [n for n in rl_names if n not in sections]
        if missing:
            raise ValueError(f"env sections missing: {missing}")
        for name, target in zip(rl_names, targets):
            new = np.asarray(sections[name])
            if new.dtype != target.dtype or new.shape != target.shape:
                raise ValueError(f"env section {name!r}: expected {target.dtype}{target.shape}, "
                                 f"got {new.dtype}{new.shape}")
        self.world.load_sections({k: v for k, v in sections.items() if not k.startswith("rl_")})
        for name, target in zip(rl_names, targets):
            target[...] = sections[name]
        self._town_tables()
        self._bind()
        st = self._state()
        obs, out = self._obs, self._out
        for arr in (out.reward, out.comp, out.terminated, out.truncated, out.episode_start,
                    out.new_agent, out.end_kind, out.acted, out.final_return, out.final_length):
            arr[...] = 0
        encode(st, self._statics, self._kp, self.track.emb_of, self.track.ep_len, out.ctx_reset,
               obs["map"], obs["features"], obs["embedding_ids"], self._lm_key,
               self._ws)
        action_masks(st, self._statics, self._kp, self._mask, self._controlled)
        held = self._controlled & ~self._decide  # committed slots: WAIT only
        self._mask[held] = False
        self._mask[held, Action.WAIT] = True
        f = self._flags
        self._any_alive = info_flags(st, out, f["alive"], f["possessed"], f["ctx_reset"],
                                     f["done"])
        return self._result(self._obs), self._infos()

    # ------------------------------------------------------------- metrics
    def embedding_metrics(self) -> dict[str, float | int | bool]:
        """Embedding slot allocator counters (SPEC/learning.md §2.5)."""
        return slot_metrics(self.track.emb_meta, self.config.rl.embeddings.reuse_warning_threshold)
