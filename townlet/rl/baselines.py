"""Baseline policies: what a learned policy must beat, and the teacher it may imitate.

Each is a callable ``policy(obs, mask) -> (N,) int64 actions`` over a whole
town, like ``townlet.train.policy.Policy``:

- ``RandomPolicy``: a uniformly random allowed action.
- ``NeedsPolicy``: the simple needs heuristic: the option for the lowest need
  below 0.5, otherwise wait.
- ``TalkPolicy``: ``TALK`` whenever allowed, otherwise wait (the reward hack a
  reward must not pay for).
- ``ScriptedPolicy``: the world's scripted controller expressed in the action
  space: each tick, the option for the goal the scripted policy would pursue
  (``townlet.world.policy.decide``), ``WAIT`` while an affordance runs and
  ``CANCEL`` where the scripted sleeper would wake up to eat. It is the
  behaviour-cloning teacher. To let the world's controller itself act for a
  slot, pass ``Action.SCRIPTED`` (-1) to ``TownletVectorEnv.step`` instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from numba import njit

from townlet.rl.layout import NEED_FEATURES
from townlet.world.actions import OPTION_GOAL, A, Action, Goal
from townlet.world.policy import GOAL_OF_NEED, decide, wakes_up

__all__ = ["BASELINES", "GOAL_ACTION", "Baseline", "NeedsPolicy", "RandomPolicy",
           "ScriptedPolicy", "TalkPolicy", "allowed", "baseline", "scripted_actions"]

GOAL_ACTION = np.full(len(Goal), Action.WAIT, dtype=np.int8)
"""The option action that pursues each scripted goal (a meeting: the social option)."""
for _action, _goal in OPTION_GOAL.items():
    GOAL_ACTION[_goal] = _action
GOAL_ACTION[Goal.MEET] = Action.GO_SOCIAL


@njit(cache=True)
def scripted_actions(st, kp, controlled, goal_action, out):
    """The scripted controller's choice for each controlled slot, as an action code
    (uncontrolled slots: WAIT); decided on the state before the next tick."""
    t = st.clock[0] + 1
    tod = t % kp.day
    for i in range(out.shape[0]):
        if not controlled[i]:
            out[i] = A.WAIT
        elif st.agent_aff[i] >= 0 and t < st.agent_aff_end[i]:
            out[i] = A.CANCEL if wakes_up(st, kp, i) else A.WAIT
        else:
            out[i] = goal_action[decide(st, kp, i, t, tod)]


def allowed(actions: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``actions`` with any disallowed choice replaced by WAIT (always allowed)."""
    ok = mask[np.arange(len(actions)), actions]
    return np.where(ok, actions, Action.WAIT).astype(np.int64)


class Baseline(ABC):
    """A baseline policy for ``env`` (a ``TownletVectorEnv``); ``seed`` drives its draws."""

    def __init__(self, env, seed: int = 0):
        self.env = env
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        """One allowed action per slot."""
        return allowed(self.choose(obs, mask), mask)

    @abstractmethod
    def choose(self, obs: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        """The policy's wish per slot (``__call__`` replaces disallowed ones by WAIT)."""


class RandomPolicy(Baseline):
    """A uniformly random allowed action per slot."""

    def choose(self, obs, mask):
        return (self.rng.random(mask.shape) * mask).argmax(1)


class NeedsPolicy(Baseline):
    """Seek the lowest need below 0.5 with its option, otherwise wait."""

    GO = GOAL_ACTION[GOAL_OF_NEED]
    """The option action that restores each need."""

    def __init__(self, env, seed: int = 0):
        super().__init__(env, seed)
        self.option = env.layout.feature_index("option_active")
        self.needs = [env.layout.feature_index(name) for name in NEED_FEATURES]

    def choose(self, obs, mask):
        features = obs["features"]
        needs = features[:, self.needs]
        act = np.where(needs.min(1) < 0.5, self.GO[needs.argmin(1)], Action.WAIT)
        act[features[:, self.option] > 0] = Action.WAIT
        return act


class TalkPolicy(Baseline):
    """TALK whenever allowed, otherwise wait."""

    def choose(self, obs, mask):
        return np.where(mask[:, Action.TALK], Action.TALK, Action.WAIT)


class ScriptedPolicy(Baseline):
    """The scripted controller as actions (``env.scripted_actions()``, see module doc)."""

    def choose(self, obs, mask):
        return self.env.scripted_actions()


BASELINES: dict[str, type[Baseline]] = {
    "random": RandomPolicy, "needs": NeedsPolicy, "talk": TalkPolicy, "scripted": ScriptedPolicy}
"""Baseline name -> class; ``baseline(name, env, seed)`` builds one."""


def baseline(name: str, env, seed: int = 0) -> Baseline:
    """The baseline policy ``name`` for ``env`` (a ``TownletVectorEnv``)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; use one of {', '.join(BASELINES)}")
    return BASELINES[name](env, seed)
