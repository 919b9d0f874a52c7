"""Generalised advantage estimation over a (T, N) rollout of ``TownletVectorEnv``.

Row t holds the transition returned by step t: o_t (the observation the action
was chosen from), a_t, r_t, terminated_t, truncated_t, acted_t, and decide_t
(``infos["decide"]`` when a_t was chosen). ``values[t]`` is V(o_t) for every
slot (computed whether or not the slot acts), and ``next_value`` is V(o_T) for
the observation after the last step. Per slot:

- only policy transitions (``acted``) get an advantage; the others are 0 and
  must be left out of the loss (empty slots, possessed agents);
- ``terminated``: the agent is gone, nothing is bootstrapped (the next
  observation may already be a newcomer's);
- ``truncated``: the agent lives on; bootstrap from V(o_{t+1}) (the returned
  observation), but the trace stops: o_{t+1} starts the next episode;
- otherwise the trace continues into t+1 only if t+1 is a policy transition
  too; if not (the agent was possessed), t bootstraps from V(o_{t+1}) alone;
- options (``decide``; default: every acted row decides): a row that does not
  decide is a tick of the option chosen at the last decision, so λ mixes in
  V(o_{t+1}) only where t+1 decides. Inside an option the return runs on
  undiscounted by λ (Monte-Carlo over the option, γ per tick), which makes a
  decision's advantage the option's rewards plus the λ-return from the next
  decision: GAE of the semi-MDP whose steps are decisions.

With G the λ-return and c_t the continuation above:
``G_t = r_t + γ (1 - terminated_t) B_{t+1}`` where ``B_{t+1}`` is V(o_{t+1})
if not c_t, ``(1 - λ) V(o_{t+1}) + λ G_{t+1}`` if t+1 decides, and ``G_{t+1}``
if it does not. Advantages are ``G_t - V_t``, returns ``G_t``. Where every row
decides this is exactly ``A_t = δ_t + γ λ c_t A_{t+1}``,
``δ_t = r_t + γ V_{t+1} (1 - terminated_t) - V_t``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gae"]


def gae(rewards: np.ndarray, values: np.ndarray, next_value: np.ndarray, acted: np.ndarray,
        terminated: np.ndarray, truncated: np.ndarray, gamma: float = 0.99,
        lam: float = 0.95, decide: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(advantages, returns) as float32 (T, N) arrays; zero where not ``acted``."""
    T, N = rewards.shape
    decide = acted if decide is None else decide
    for name, arr in (("values", values), ("acted", acted), ("terminated", terminated),
                      ("truncated", truncated), ("decide", decide)):
        if arr.shape != (T, N):
            raise ValueError(f"{name} has shape {arr.shape}, expected {(T, N)} like rewards")
    if np.shape(next_value) != (N,):
        raise ValueError(f"next_value has shape {np.shape(next_value)}, expected ({N},)")
    adv = np.zeros((T, N), np.float32)
    ret = np.zeros((T, N), np.float32)
    g_next = np.zeros(N, np.float64)  # G_{t+1}
    follows = np.zeros(N, np.bool_)  # row t+1 is a policy transition
    mixes = np.zeros(N, np.bool_)  # row t+1 decides
    for t in range(T - 1, -1, -1):
        v_next = values[t + 1] if t + 1 < T else next_value
        alive = ~terminated[t]
        cont = alive & ~truncated[t] & follows
        boot = np.where(cont, np.where(mixes, (1 - lam) * v_next + lam * g_next, g_next),
                        v_next)
        g = np.where(acted[t], rewards[t] + gamma * alive * boot, 0.0)
        adv[t] = np.where(acted[t], g - values[t], 0.0)
        ret[t] = g
        g_next = g
        follows = acted[t]
        mixes = decide[t] & acted[t]
    return adv, ret
