"""PPO's settings, apart from torch: the ``townlet train ppo`` CLI takes its defaults
from here without loading torch, and checkpoints store them."""

from __future__ import annotations

from msgspec import Struct

__all__ = ["PPOConfig"]


class PPOConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything a PPO run depends on besides the town config (stored in checkpoints)."""

    seed: int = 0
    """Seeds the town (``reset(seed)``), torch and the minibatch shuffles."""
    variant: str = "compact"
    total_agent_steps: int = 2_000_000
    """Stop after this many agent transitions (ticks x agent slots)."""
    max_seconds: float = 0.0
    """Also stop after this much wall time (0 = no limit); the last update finishes."""
    rollout_ticks: int = 128
    """Ticks per rollout; a rollout holds rollout_ticks x agents transitions."""
    learning_rate: float = 3e-4
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over total_agent_steps."""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_epochs: int = 4
    num_mini_batches: int = 4
    mini_batch_size: int = 0
    """Transitions per minibatch; 0 = policy transitions / num_mini_batches."""
    clip_param: float = 0.2
    value_clip: float = 0.2
    """Clip of the value update around the rollout's value (0 = unclipped)."""
    value_loss_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 0.5
    """Gradient norm clip (0 = none)."""
    advantage_normalization: bool = True
    hidden: int = 64
    threads: int = 1
    """torch intra-op threads. 1 by default: the env steps between forward passes on
    the same cores, and on a busy machine a second torch thread spin-waits for a core
    (measured on the shared 2-core box: a 512-agent forward pass took 4 ms with one
    thread and 87 ms with two)."""
    checkpoint_every: int = 10
    """Write a checkpoint every this many updates (and after the last)."""
    retain: int = 3
    init: str | None = None
    """Warm-start weights from this checkpoint (e.g. a behaviour-cloning policy)."""
    resume: str | None = None
    """Continue this PPO checkpoint: its weights, optimiser, RNG states and counters
    (``total_agent_steps`` counts them). The town is not in a checkpoint: a resumed run
    starts a fresh town from ``seed``. ``init`` then only supplies the KL anchor."""
    value_sample: float = 0.1
    """Share of non-decision ticks (inside options) that also train the critic."""
    bc_kl_coef: float = 1.0
    """With ``init``: weight of KL(π_init ‖ π) on decision rows at the start."""
    bc_kl_half_life: int = 2_000_000
    """With ``init``: agent steps over which the KL weight halves (0 = constant)."""
    bc_kl_floor: float = 0.0
    """With ``init``: the KL weight never decays below this (0 = it decays to nothing;
    once it is ~0.01 a warm start drifts away from its behaviour, docs/rl.md)."""
    critic_warmup_updates: int = 2
    """With ``init``: updates that train the critic (and the KL term) but not the policy."""
    eval_seeds: tuple[int, ...] = ()
    """Checkpoint selection (``townlet.train.select``): score every checkpoint on fresh
    towns of these seeds (never ``seed``) and keep the best as ``best.pt``; () = off."""
    eval_ticks: int = 1440
    """Ticks of each selection run (1440: one episode per agent at the default horizon)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.value_sample <= 1.0:
            raise ValueError(f"value_sample must be in [0, 1], got {self.value_sample}")
        for name in ("bc_kl_coef", "bc_kl_half_life", "bc_kl_floor", "critic_warmup_updates"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.seed in self.eval_seeds:
            raise ValueError(f"evaluation seed {self.seed} is the training seed: checkpoint "
                             f"selection needs held-out towns")
        if self.eval_ticks < 1:
            raise ValueError(f"eval_ticks must be >= 1, got {self.eval_ticks}")

    def kl_weight(self, agent_steps: int) -> float:
        """The KL-to-init weight after ``agent_steps`` (used only with ``init``)."""
        if self.bc_kl_half_life == 0:
            return self.bc_kl_coef
        return max(self.bc_kl_floor, self.bc_kl_coef * 0.5 ** (agent_steps / self.bc_kl_half_life))
