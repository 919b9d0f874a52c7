"""The stability monitor's default thresholds (``pilot.stability``, docs/pilot.md
"Tuning") on real runs of a small town: the scripted policy raises no alert and
passes its promotion window; degenerate policies (WAIT only, TALK only, random,
and a policy re-choosing options on every tick) are flagged."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="needs the rl extra")

from townlet.config import default_config, with_agents, with_settings
from townlet.promotion.stability import StabilityMonitor, StabilityReport
from townlet.rl import TownletVectorEnv
from townlet.rl.baselines import baseline
from townlet.world.actions import Action

AGENTS, TICKS, SEED = 64, 1000, 1
"""One default promotion window (1000 ticks) of a small town."""
FIXED = {"scripted": int(Action.SCRIPTED), "wait": int(Action.WAIT)}


def _run(name: str, *, commit: bool = True) -> StabilityReport:
    cfg = with_agents(default_config(), AGENTS)
    if not commit:
        cfg = with_settings(cfg, {"rl.commit.enabled": False}, "test")
    env = TownletVectorEnv(cfg, variant="compact")
    obs, infos = env.reset(seed=SEED)
    if name in FIXED:  # the world's own scripted controller (Action.SCRIPTED), or WAIT
        act = lambda o, m: np.full(len(m), FIXED[name], np.int64)
    else:
        act = baseline(name, env, SEED)
    monitor = StabilityMonitor(cfg.pilot.stability, cfg.pilot.promotion)
    for _ in range(TICKS):
        obs, reward, _, _, infos = env.step(act(obs, infos["action_mask"]))
        monitor.observe(env.world, reward, infos["alive"],
                        bool(env.embedding_metrics()["reuse_warning"]))
    return monitor.report()


def _raised(report: StabilityReport) -> set[str]:
    return {name for name, ticks in report.alert_ticks.items() if ticks}


def test_the_scripted_policy_raises_no_alert_and_passes_its_window():
    report = _run("scripted")
    assert _raised(report) == set()
    assert report.windows_passed == 1 and report.pass_streak == 1
    assert report.reward_variance < 0.5 * default_config().pilot.stability.reward_max_variance


@pytest.mark.parametrize("name", ["wait", "talk", "random"])
def test_degenerate_policies_starve_and_are_flagged(name):
    report = _run(name)
    assert {"starvation_spike", "reward_variance_spike"} <= _raised(report)
    assert report.windows_failed == 1 and report.pass_streak == 0


def test_rechoosing_options_every_tick_is_thrashing():
    report = _run("random", commit=False)
    assert "option_thrash_detected" in _raised(report)
