"""Generalised advantage estimation over a (T, N) rollout of ``TownletVectorEnv``.

Row t holds the transition returned by step t: o_t (the observation the action
was chosen from), a_t, r_t, terminated_t, truncated_t, acted_t. ``values[t]``
is V(o_t) for every slot (computed whether or not the slot acts), and
``next_value`` is V(o_T) for the observation after the last step. Per slot:

- only policy transitions (``acted``) get an advantage; the others are 0 and
  must be left out of the loss (empty slots, possessed agents);
- ``terminated``: the agent is gone, nothing is bootstrapped (the next
  observation may already be a newcomer's);
- ``truncated``: the agent lives on; bootstrap from V(o_{t+1}) (the returned
  observation), but the trace stops: o_{t+1} starts the next episode;
- otherwise the trace continues into t+1 only if t+1 is a policy transition
  too; if not (the agent was possessed), t bootstraps from V(o_{t+1}) alone.

``delta_t = r_t + gamma * V_{t+1} * (1 - terminated_t) - V_t`` and
``A_t = delta_t + gamma * lam * c_t * A_{t+1}`` with c_t the continuation above;
returns are ``A_t + V_t``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gae"]


def gae(rewards: np.ndarray, values: np.ndarray, next_value: np.ndarray, acted: np.ndarray,
        terminated: np.ndarray, truncated: np.ndarray, gamma: float = 0.99,
        lam: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(advantages, returns) as float32 (T, N) arrays; zero where not ``acted``."""
    T, N = rewards.shape
    for name, arr in (("values", values), ("acted", acted), ("terminated", terminated),
                      ("truncated", truncated)):
        if arr.shape != (T, N):
            raise ValueError(f"{name} has shape {arr.shape}, expected {(T, N)} like rewards")
    if np.shape(next_value) != (N,):
        raise ValueError(f"next_value has shape {np.shape(next_value)}, expected ({N},)")
    adv = np.zeros((T, N), np.float32)
    running = np.zeros(N, np.float64)
    follows = np.zeros(N, np.bool_)  # row t+1 is a policy transition
    for t in range(T - 1, -1, -1):
        v_next = values[t + 1] if t + 1 < T else next_value
        alive = ~terminated[t]
        delta = rewards[t] + gamma * v_next * alive - values[t]
        cont = alive & ~truncated[t] & follows
        running = np.where(acted[t], delta + gamma * lam * cont * running, 0.0)
        adv[t] = running
        follows = acted[t]
    returns = np.where(acted, adv + values, 0.0).astype(np.float32)
    return adv, returns
