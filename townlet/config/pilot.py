"""The ``pilot:`` section: learned policies driving the town. The anneal schedule from
scripted to learned control, the stability monitor's alert thresholds and rolling
windows, and the promotion gate (SPEC/learning.md §3.5, §5.7, §7).

Every field has a default; none of them changes the world, so none is part of
``config_id``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from townlet.config.paths import PROMOTION_DIR

__all__ = ["ALERTS", "AnnealConfig", "AnnealPoint", "PilotConfig", "PromotionConfig",
           "StabilityConfig"]

ALERTS = ("queue_fairness_pressure", "embedding_reuse_warning", "affordance_failures_exceeded",
          "lateness_spike", "employment_exit_queue_overflow", "starvation_spike",
          "option_thrash_detected", "reward_variance_spike")
"""Names of the stability monitor's alerts, in evaluation order (SPEC/learning.md §7.2)."""

Ticks = Annotated[int, Meta(ge=1, le=100_000)]
Ratio = Annotated[float, Meta(ge=0.0, le=1.0)]
Alert = Literal["queue_fairness_pressure", "embedding_reuse_warning",
                "affordance_failures_exceeded", "lateness_spike",
                "employment_exit_queue_overflow", "starvation_spike", "option_thrash_detected",
                "reward_variance_spike"]


class _Section(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Strict, immutable config section."""


class AnnealPoint(_Section, frozen=True):
    tick: Annotated[int, Meta(ge=0, le=10**12)]
    """World tick (so a resumed run continues the same schedule)."""
    ratio: Ratio
    """Share of control held by the learned policy from this tick on (linear in between)."""


class AnnealConfig(_Section, frozen=True):
    unit: Literal["agents", "decisions"] = "agents"
    """``agents``: a fixed share of agents is learned (an agent joins as the ratio grows and
    stays); ``decisions``: every decision of every agent is learned with that probability."""
    schedule: tuple[AnnealPoint, ...] = (AnnealPoint(tick=0, ratio=1.0),)
    """Ratio over time, linear between points, flat after the last one (ticks ascending).
    The default hands every agent to the policy at once; the spec's ramp is e.g.
    ``[{tick: 0, ratio: 0.2}, {tick: 14400, ratio: 1.0}]``."""

    def __post_init__(self) -> None:
        if not self.schedule:
            raise ValueError("schedule needs at least one point")
        ticks = [p.tick for p in self.schedule]
        if ticks != sorted(set(ticks)):
            raise ValueError(f"schedule ticks must be strictly ascending, got {ticks}")


class StabilityConfig(_Section, frozen=True):
    queue_fairness_limit: Annotated[int, Meta(ge=1, le=100_000)] = 5
    """``queue_fairness_pressure``: queue conflicts in one tick at or above this (per 100
    living agents, like the two limits below: bigger towns scale them up)."""
    affordance_fail_threshold: Annotated[int, Meta(ge=0, le=100_000)] = 5
    """``affordance_failures_exceeded``: failed affordances in one tick above this."""
    lateness_threshold: Annotated[int, Meta(ge=0, le=100_000)] = 3
    """``lateness_spike``: late shift starts in one tick above this."""
    starvation_window: Ticks = 1000
    """Rolling window of ``starvation_spike``, in ticks."""
    starvation_max_incidents: Annotated[int, Meta(ge=0, le=10_000)] = 1
    """``starvation_spike``: incidents in the window above this, per 100 living agents
    (the scripted policy and a good trained one have none; random and WAIT- or
    TALK-only policies 50-100 per 100 agents: docs/pilot.md, "Tuning")."""
    starvation_hunger: Ratio = 0.05
    """An agent whose hunger stays at or below this ..."""
    starvation_min_ticks: Annotated[int, Meta(ge=1, le=10_000)] = 30
    """... for this many consecutive ticks is one incident (once per streak)."""
    thrash_window: Ticks = 600
    """Rolling window of ``option_thrash_detected``, in ticks."""
    thrash_max_switch_rate: Annotated[float, Meta(ge=0.0, le=10.0)] = 0.05
    """Mean per-tick goal switches per living agent above this is thrashing (scripted,
    trained and random policies under option commitment: at most ~0.015; a random
    policy without commitment: ~0.5)."""
    thrash_min_samples: Ticks = 10
    """Ticks in the window before thrashing is judged."""
    reward_window: Ticks = 1000
    """Rolling window of ``reward_variance_spike``, in ticks."""
    reward_max_variance: Annotated[float, Meta(ge=0.0)] = 0.002
    """Population variance of per-agent rewards in the window above this is a spike.
    Under the default reward (docs/rl.md) a looked-after agent earns ~0.01-0.03 a tick
    and one in deep need pays up to ~0.2, so the variance grows with the share of
    agents in need: scripted and trained policies stay below 0.0005, the needs
    heuristic below 0.001, random ~0.005, WAIT- or TALK-only ~0.009. The spec's 0.25
    came from the upstream reward, whose needs penalty alone was of order 1 a tick,
    and no policy reaches it under this one."""
    reward_min_samples: Ticks = 200
    """Ticks in the window before the variance is judged (a single early death in a
    small town dominates a short window)."""


class PromotionConfig(_Section, frozen=True):
    window_ticks: Ticks = 1000
    """Promotion windows: consecutive fixed windows of this many ticks from tick 0."""
    required_passes: Annotated[int, Meta(ge=1, le=10)] = 2
    """Clean windows in a row (on every scenario of the suite) before a candidate is ready."""
    allowed_alerts: tuple[Alert, ...] = ()
    """Alerts that do not fail a window."""
    tolerance: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.05
    """Largest allowed regression of the candidate against the release on any suite metric,
    relative to the release's value (0.05 = 5 % worse)."""
    history_limit: Annotated[int, Meta(ge=1, le=1000)] = 50
    """Promotion events kept in the persisted state (oldest dropped)."""
    state_dir: Annotated[str, Meta(min_length=1, max_length=4096)] = PROMOTION_DIR
    """Directory of the persisted promotion state (release/shadow slots, history)."""


class PilotConfig(_Section, frozen=True):
    """Learned control of the town: anneal, stability monitor, promotion gate."""

    anneal: AnnealConfig = AnnealConfig()
    stability: StabilityConfig = StabilityConfig()
    promotion: PromotionConfig = PromotionConfig()
