"""The ``rl:`` section: observation variant and window sizes, feature
normalisation constants, reward weights and clips, embedding slots and the
truncation horizon of the RL environment (``townlet.rl``).

Every field has a default. Cross-field rules (odd windows, at most 8 social
slots, punctuality below the hunger weight) are checked in ``__post_init__`` so
that a bad YAML value fails at load with its key path.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

__all__ = [
    "ClipConfig", "CommitConfig", "EmbeddingConfig", "NeedWeights", "ObservationConfig", "RLConfig",
    "RewardConfig", "SocialRewardConfig", "Variant",
]

Window = Annotated[int, Meta(ge=3, le=31)]
Scale = Annotated[float, Meta(gt=0.0, le=1e6)]
Weight = Annotated[float, Meta(ge=0.0, le=5.0)]
Penalty = Annotated[float, Meta(ge=-50.0, le=0.0)]
Coeff = Annotated[float, Meta(ge=0.0, le=1.0)]


class _Section(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Strict, immutable config section."""


Variant = Literal["full", "hybrid", "compact"]
"""The observation variants (the one list of their names)."""


class ObservationConfig(_Section, frozen=True):
    variant: Variant = "hybrid"
    """Observation layout (docs/rl.md lists the map channels of each)."""
    full_window: Window = 11
    """Side of the egocentric map of the ``full`` variant (odd)."""
    hybrid_window: Window = 11
    """Side of the egocentric map of the ``hybrid`` variant (odd)."""
    compact_window: Window = 5
    """Side of the egocentric map of the ``compact`` variant (odd)."""
    top_friends: Annotated[int, Meta(ge=0, le=8)] = 2
    """Social slots filled with the strongest friendships (trust + familiarity)."""
    top_rivals: Annotated[int, Meta(ge=0, le=8)] = 2
    """Social slots filled with the strongest rivalries; friends + rivals <= 8."""
    wallet_scale: Scale = 5.0
    """Wallet w is encoded as w / (w + wallet_scale), in [0, 1)."""
    money_scale: Scale = 1.0
    """Wages today and withheld wages m are encoded as m / (m + money_scale)."""
    count_scale: Scale = 5.0
    """Counts c (lateness, food items) are encoded as c / (c + count_scale)."""
    distance_scale: Scale = 16.0
    """Distances d in tiles (landmarks, ties) are encoded as d / (d + distance_scale)."""
    agents_per_tile: Annotated[int, Meta(ge=1, le=64)] = 4
    """The ``agents`` map channel is min(others on the tile, this) / this."""

    def __post_init__(self) -> None:
        for name in ("full_window", "hybrid_window", "compact_window"):
            if getattr(self, name) % 2 == 0:
                raise ValueError(f"{name} must be odd, got {getattr(self, name)}")
        if self.top_friends + self.top_rivals > 8:
            raise ValueError(f"top_friends + top_rivals must be <= 8, "
                             f"got {self.top_friends} + {self.top_rivals}")

    def window(self, variant: str | None = None) -> int:
        """Map side of ``variant`` (default: the selected one): its ``<variant>_window``."""
        return getattr(self, f"{variant or self.variant}_window")


class NeedWeights(_Section, frozen=True):
    """Weights w of the need penalty: w per tick for a need at 0 (see ``needs_comfort``)."""

    hunger: Weight = 0.1
    hygiene: Weight = 0.04
    energy: Weight = 0.06
    social: Weight = 0.03


class SocialRewardConfig(_Section, frozen=True):
    stage: Literal["off", "c1"] = "c1"
    """``c1`` pays chat rewards; ``off`` pays nothing. Later stages are not implemented."""
    chat_base: Annotated[float, Meta(ge=0.0, le=0.05)] = 0.01
    """Base reward per successful chat, for speaker and listener."""
    coeff_trust: Coeff = 0.3
    """Added per unit of trust in the partner (own tie toward them)."""
    coeff_fam: Coeff = 0.2
    """Added per unit of familiarity with the partner."""
    need_floor: Coeff = 0.15
    """No chat reward while any of hunger, hygiene, energy is below this."""
    by_deficit: bool = True
    """Scale each chat reward by the receiver's social deficit (1 - social need): a
    satisfied agent gains nothing from more talk, so talking cannot replace living."""


class ClipConfig(_Section, frozen=True):
    per_tick: Annotated[float, Meta(ge=0.01, le=10.0)] = 1.0
    """Symmetric clip of each tick's non-terminal reward."""
    per_episode: Annotated[float, Meta(ge=0.0, le=1e6)] = 0.0
    """Symmetric clip of the episode's running total (0 = off, the default: the
    total is not in the observation, so a clip on it makes the reward non-Markov);
    terminal taps excluded."""
    death_window: Annotated[int, Meta(ge=0, le=200)] = 10
    """No positive reward within this many ticks before (retroactively, see
    ``townlet.rl.rewards.apply_death_window``) and after a death or exit in a slot."""


class RewardConfig(_Section, frozen=True):
    survival: Annotated[float, Meta(ge=0.0, le=0.1)] = 0.01
    """Reward per tick alive."""
    needs: NeedWeights = NeedWeights()
    needs_comfort: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.5
    """A need at or above this costs nothing; below it the penalty is
    w * ((comfort - need) / comfort)^2, so w per tick at need 0 (1.0: the
    upstream form w * (1 - need)^2)."""
    wage_rate: Annotated[float, Meta(ge=0.0, le=0.05)] = 0.02
    """Reward per tick of full wage earned (wage earned minus withheld, over the job's wage)."""
    punctuality_bonus: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.05
    """Paid once per shift on arrival: bonus * max(0, 1 - minutes late / punctuality_window)."""
    punctuality_window: Annotated[int, Meta(ge=1, le=600)] = 30
    """Ticks after shift start over which the punctuality bonus falls to zero."""
    faint_penalty: Penalty = -1.0
    """On the tick an agent faints (not terminal in Townlet; survives clipping)."""
    death_penalty: Penalty = -10.0
    """On the tick an agent dies (terminal; applied after clipping)."""
    exit_penalty: Penalty = -2.0
    """On the tick an agent leaves town after losing its job (terminal; after clipping)."""
    social: SocialRewardConfig = SocialRewardConfig()
    clip: ClipConfig = ClipConfig()

    def __post_init__(self) -> None:
        if self.punctuality_bonus > self.needs.hunger:
            raise ValueError(f"punctuality_bonus ({self.punctuality_bonus}) must not exceed "
                             f"needs.hunger ({self.needs.hunger}): a skipped meal must hurt more")


class EmbeddingConfig(_Section, frozen=True):
    max_slots: Annotated[int, Meta(ge=0, le=8_000_000)] = 0
    """Identity embedding slots (0 = twice the number of agent slots); >= agent slots."""
    cooldown_ticks: Annotated[int, Meta(ge=0, le=1_000_000)] = 2000
    """A released slot is reused only after this many ticks unless none is cooled (forced)."""
    reuse_warning_threshold: Annotated[float, Meta(ge=0.0, le=0.5)] = 0.05
    """Forced reuses / allocations above this raise ``reuse_warning``."""


class CommitConfig(_Section, frozen=True):
    """Option commitment (SPEC/learning.md §3.3): the policy decides at option boundaries."""

    enabled: bool = True
    """While an option or an affordance runs, the slot's only allowed action is ``WAIT``
    (continue) and ``infos["decide"]`` is false: an option persists until it completes or
    fails, so one decision covers a whole walk-queue-use behaviour (off: the policy may
    switch or cancel on every tick, as the world allows)."""
    break_on_critical: bool = True
    """A need falling below its ``critical`` level breaks the commitment for one decision
    (``WAIT`` continues, ``CANCEL`` or another option switches); so does a new episode or
    a context cut (teleport, possession)."""


class RLConfig(_Section, frozen=True):
    observations: ObservationConfig = ObservationConfig()
    rewards: RewardConfig = RewardConfig()
    embeddings: EmbeddingConfig = EmbeddingConfig()
    commit: CommitConfig = CommitConfig()
    truncate_ticks: Annotated[int, Meta(ge=0, le=10_000_000)] = 1440
    """Episode horizon in ticks for bootstrapping (0 = never truncate); the agent lives on."""
