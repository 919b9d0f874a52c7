"""``StabilityMonitor``: the spec's alerts over rolling windows, and promotion windows
(SPEC/learning.md §7.2, §7.3).

Fed once per tick with the world (its event batch, needs and goals), the tick's
rewards and whether embedding slots are being reused too early. Every input is reduced
with a few vectorised NumPy passes; the rolling windows hold one small tuple per tick.

Alerts (``townlet.config.pilot.ALERTS``; thresholds in ``pilot.stability``):
queue conflicts, failed affordances and late shift starts in one tick above their
limits (per 100 living agents: a town of 400 may have four times as many); any
employment-exit queue overflow; early embedding reuse; starvation incidents (hunger
at or below a floor for a run of ticks) in the window, also per 100 living agents; mean goal
switches per agent and tick in the window (thrashing); population variance of
per-agent rewards in the window.

Promotion windows are consecutive fixed spans of ``window_ticks`` from tick 0; a window
passes when none of its ticks raised an alert outside ``allowed_alerts``.
"""

from __future__ import annotations

from collections import deque

import msgspec
import numpy as np

from townlet.config.pilot import ALERTS, PromotionConfig, StabilityConfig
from townlet.world import World
from townlet.world.actions import Goal
from townlet.world.events import EventCode
from townlet.world.state import Need

__all__ = ["StabilityMonitor", "StabilityReport"]

_N_CODES = max(EventCode) + 1
PER_AGENTS = 100
"""Per-tick event limits hold for towns of up to this many living agents and grow in
proportion beyond (SPEC/learning.md's limits come from towns of a few dozen agents)."""


class StabilityReport(msgspec.Struct, frozen=True, kw_only=True):
    """The monitor's state after the last observed tick."""

    tick: int
    alerts: list[str]
    """Alerts raised on the last tick, in ``ALERTS`` order."""
    alert_ticks: dict[str, int]
    """Ticks on which each alert was raised since the monitor started."""
    starvation_incidents: int
    """Incidents in the starvation window."""
    option_switch_rate: float
    """Mean goal switches per living agent and tick over the thrash window."""
    reward_variance: float
    """Population variance of per-agent rewards over the reward window (0 without rewards)."""
    windows_passed: int
    windows_failed: int
    pass_streak: int
    """Clean promotion windows in a row, up to the last closed one."""
    last_result: str | None
    """``pass`` or ``fail`` for the last closed window, None before the first closes."""
    failed_alerts: list[str]
    """Disallowed alerts raised in any failed window."""


class StabilityMonitor:
    """Watches one town tick by tick (see module doc)."""

    def __init__(self, cfg: StabilityConfig, promotion: PromotionConfig) -> None:
        self.cfg, self.promo = cfg, promotion
        self.alert_ticks = dict.fromkeys(ALERTS, 0)
        self._starved: deque[tuple[int, int]] = deque()
        self._switches: deque[tuple[int, float]] = deque()
        self._rewards: deque[tuple[int, int, float, float]] = deque()
        self._streak: np.ndarray | None = None
        self._goal: np.ndarray | None = None
        self._window = -1
        self._window_alerts: set[str] = set()
        self.windows_passed = self.windows_failed = self.pass_streak = 0
        self.last_result: str | None = None
        self.failed_alerts: set[str] = set()
        self.last_alerts: list[str] = []
        self.tick = 0

    @staticmethod
    def _trim(window: deque, tick: int, span: int) -> None:
        while window and window[0][0] <= tick - span:
            window.popleft()

    def observe(self, world: World, rewards: np.ndarray | None, alive: np.ndarray,
                reuse_warning: bool = False) -> list[str]:
        """Account for the tick the world just ran; returns the alerts it raised."""
        c, t = self.cfg, world.tick
        counts = np.bincount(world.view("evt_code")[:int(world.view("evt_len")[0])],
                             minlength=_N_CODES)
        hunger = world.view("agent_needs")[:, Need.HUNGER]
        starving = alive & (hunger <= c.starvation_hunger)
        if self._streak is None:
            self._streak = np.zeros(alive.shape, np.int64)
        self._streak = np.where(starving, self._streak + 1, 0)
        self._starved.append((t, int(np.count_nonzero(self._streak == c.starvation_min_ticks))))
        self._trim(self._starved, t, c.starvation_window)
        goal = world.view("agent_goal")
        if self._goal is not None:
            moved = alive & (goal != self._goal) & (goal != Goal.NONE) & (self._goal != Goal.NONE)
            living = int(np.count_nonzero(alive))
            self._switches.append((t, int(np.count_nonzero(moved)) / max(1, living)))
            self._trim(self._switches, t, c.thrash_window)
        self._goal = goal.copy()
        if rewards is not None:
            r = rewards[alive].astype(np.float64)
            self._rewards.append((t, r.size, float(r.sum()), float(np.square(r).sum())))
            self._trim(self._rewards, t, c.reward_window)
        per = max(1.0, np.count_nonzero(alive) / PER_AGENTS)  # limits are per 100 agents
        raised = {
            "queue_fairness_pressure":
                counts[EventCode.QUEUE_CONFLICT] >= c.queue_fairness_limit * per,
            "embedding_reuse_warning": reuse_warning,
            "affordance_failures_exceeded":
                counts[EventCode.AFFORDANCE_FAIL] > c.affordance_fail_threshold * per,
            "lateness_spike": counts[EventCode.SHIFT_LATE_START] > c.lateness_threshold * per,
            "employment_exit_queue_overflow": counts[EventCode.EXIT_QUEUE_OVERFLOW] > 0,
            "starvation_spike": self.starvation_incidents > c.starvation_max_incidents * per,
            "option_thrash_detected": len(self._switches) >= c.thrash_min_samples
            and self.option_switch_rate > c.thrash_max_switch_rate,
            "reward_variance_spike": len(self._rewards) >= c.reward_min_samples
            and self.reward_variance > c.reward_max_variance,
        }
        alerts = [name for name in ALERTS if raised[name]]
        for name in alerts:
            self.alert_ticks[name] += 1
        self.last_alerts, self.tick = alerts, t
        self._close_windows(t, alerts)
        return alerts

    def _close_windows(self, t: int, alerts: list[str]) -> None:
        """The step that produced tick ``t`` ran in window (t - 1) // window_ticks."""
        span = self.promo.window_ticks
        window = (t - 1) // span
        if self._window < 0:
            self._window = window
        if window != self._window:  # resumed past a window: it never finished, not judged
            self._window, self._window_alerts = window, set()
        self._window_alerts.update(a for a in alerts if a not in self.promo.allowed_alerts)
        if t % span == 0:
            if self._window_alerts:
                self.windows_failed += 1
                self.pass_streak = 0
                self.last_result = "fail"
                self.failed_alerts |= self._window_alerts
            else:
                self.windows_passed += 1
                self.pass_streak += 1
                self.last_result = "pass"
            self._window, self._window_alerts = window + 1, set()

    @property
    def starvation_incidents(self) -> int:
        return sum(n for _, n in self._starved)

    @property
    def option_switch_rate(self) -> float:
        return sum(r for _, r in self._switches) / len(self._switches) if self._switches else 0.0

    @property
    def reward_variance(self) -> float:
        n = sum(k for _, k, _, _ in self._rewards)
        if n == 0:
            return 0.0
        mean = sum(s for _, _, s, _ in self._rewards) / n
        return max(0.0, sum(q for _, _, _, q in self._rewards) / n - mean * mean)

    def report(self) -> StabilityReport:
        """The current state as a struct (console, CLI, JSON)."""
        return StabilityReport(
            tick=self.tick, alerts=list(self.last_alerts), alert_ticks=dict(self.alert_ticks),
            starvation_incidents=self.starvation_incidents,
            option_switch_rate=self.option_switch_rate, reward_variance=self.reward_variance,
            windows_passed=self.windows_passed, windows_failed=self.windows_failed,
            pass_streak=self.pass_streak, last_result=self.last_result,
            failed_alerts=sorted(self.failed_alerts))
