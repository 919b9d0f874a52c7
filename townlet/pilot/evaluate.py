"""Run an evaluation suite: each scenario with the candidate, the release and the scripted
baseline controlling the focal agents, and the verdict the promotion gate uses.

Every run builds the scenario's town from its seed, lets the background policy drive
the other slots, applies the perturbation schedule, and measures the focal slots over
the whole run (all higher-is-better):

- ``survival``: 1 - deaths / focal agents seen (newcomers in focal slots count);
- ``needs``: mean need level (hunger, hygiene, energy, social) over focal agent-ticks;
- ``wages``: wages earned per focal agent and day, in units of money;
- ``punctuality``: mean on-time share of the last shifts (``agent_attendance``),
  sampled at every midnight over living focal agents;
- ``relationships``: share of living focal agents with a tie of |trust| > 0.3 at the end;
- ``return``: RL reward per focal agent-day (``townlet.rl`` rewards, terminal penalties
  included).

A stability monitor watches the candidate's runs: the verdict records the fewest clean
promotion windows in a row over the scenarios and every disallowed alert. A metric
regresses when the candidate is worse than the reference (the release, or the scripted
baseline while no learned policy is released) by more than ``tolerance`` of the
reference's magnitude. Learned policies act greedily, so a suite run is a function of
the checkpoints and the suite version.
"""

from __future__ import annotations

import msgspec
import numpy as np

from townlet.config import TownletConfig, with_agents
from townlet.config.money import MINOR_PER_UNIT
from townlet.pilot.anneal import uniform
from townlet.pilot.driver import policy_actions
from townlet.pilot.policy import LoadedPolicy, check_layout
from townlet.pilot.suite import Scenario, Suite
from townlet.promotion.manager import ready_reasons
from townlet.promotion.stability import StabilityMonitor
from townlet.promotion.state import SuiteVerdict, utc_now
from townlet.rl.rewards import END_DEATH
from townlet.rl.vector_env import TownletVectorEnv
from townlet.world import World

__all__ = ["METRICS", "EvalReport", "PolicyRef", "RunResult", "ScenarioReport", "evaluate"]

METRICS = ("survival", "needs", "wages", "punctuality", "relationships", "return")
"""The per-scenario metrics, in report order (all higher-is-better)."""
FOCAL_SALT = 0xF0CA1
TIE_TRUST = 0.3


class PolicyRef(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    policy_hash: str
    checkpoint: str


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    """One policy on the focal agents of one scenario."""

    policy: str
    """``candidate``, ``release`` or ``scripted``."""
    policy_hash: str | None
    metrics: dict[str, float]
    """``METRICS`` by name."""
    deaths: int
    focal_agents: int
    """Focal agents seen (initial plus newcomers in focal slots)."""
    clean_windows: int
    """Clean promotion windows in a row at the end of the run."""
    alerts: list[str]
    """Disallowed alerts raised in failed windows."""


class ScenarioReport(msgspec.Struct, frozen=True, kw_only=True):
    scenario: Scenario
    candidate: RunResult
    release: RunResult | None
    """None while no learned policy is released (the scripted baseline is the release)."""
    scripted: RunResult
    regressions: list[str]
    """Metrics where the candidate is worse than the reference beyond tolerance."""


class EvalReport(msgspec.Struct, frozen=True, kw_only=True):
    suite: str
    suite_version: int
    evaluated_at: str
    candidate: PolicyRef
    release: PolicyRef | None
    tolerance: float
    scenarios: list[ScenarioReport]
    verdict: SuiteVerdict
    ready: bool
    """The candidate passes the gate (clean windows and no regression)."""
    reasons: list[str]
    """Why it is not ready (empty when ready)."""


def _focal(seed: int, n: int, share: float) -> np.ndarray:
    slots = np.arange(n, dtype=np.uint64)
    mask = uniform(np.uint64(FOCAL_SALT) ^ np.uint64(seed), slots, np.zeros_like(slots)) < share
    if not mask.any():
        mask[0] = True
    return mask


def run_scenario(cfg: TownletConfig, sc: Scenario, variant: str, focal: LoadedPolicy | None,
                 background: LoadedPolicy | None, label: str) -> RunResult:
    """Run ``sc`` with ``focal`` on the focal slots (None: scripted) and ``background``
    on the rest (None: scripted)."""
    cfg = with_agents(cfg, sc.agents)
    world = World(cfg, sc.seed)
    env = TownletVectorEnv(cfg, variant=variant, world=world)
    for p in (focal, background):
        if p is not None:
            check_layout(p, env.layout, f"scenario {sc.name!r}")
    obs, infos = env.reset()
    n, day = world.n_agents, cfg.world.ticks_per_day
    is_focal = _focal(sc.seed, n, sc.focal)
    promo = cfg.pilot.promotion
    allowed = tuple(dict.fromkeys(promo.allowed_alerts + sc.allowed_alerts))
    monitor = StabilityMonitor(cfg.pilot.stability,
                               msgspec.structs.replace(promo, allowed_alerts=allowed))
    acts, other = np.full(n, -1, np.int8), np.full(n, -1, np.int8)
    starts = {p.tick: p for p in sc.perturbations}
    gen0 = world.view("agent_gen").copy()
    wages_prev = world.view("agent_wages_today").copy()
    needs_sum = ret = wages = 0.0
    agent_ticks = deaths = 0
    punct: list[float] = []
    for _ in range(sc.ticks):
        if world.tick in starts:
            pert = starts[world.tick]
            world.perturb(pert.kind, pert.duration, pert.magnitude)
        ctl = infos["controlled"]
        for policy, rows, out in ((focal, is_focal, acts), (background, ~is_focal, other)):
            if policy is None:
                out[...] = -1
            else:
                policy_actions(policy, obs, infos["action_mask"], np.flatnonzero(rows & ctl), out)
        world.step(np.where(is_focal, acts, other))
        obs, reward, _, _, infos = env.observe()
        monitor.observe(world, reward, infos["alive"], bool(env.embedding_metrics()["reuse_warning"]))
        alive = infos["alive"] & is_focal
        agent_ticks += int(alive.sum())
        needs_sum += float(world.view("agent_needs")[alive].mean(1).sum())
        ret += float(reward[is_focal].sum())
        deaths += int(np.count_nonzero((infos["end_kind"] == END_DEATH) & is_focal))
        w = world.view("agent_wages_today")
        wages += float(np.where(w >= wages_prev, w - wages_prev, w)[is_focal].sum())
        wages_prev = w.copy()
        if world.tick % day == 0 and alive.any():
            punct.append(float(world.view("agent_attendance")[alive].mean()))
    seen = int(is_focal.sum() + (world.view("agent_gen") - gen0)[is_focal].sum())
    alive = world.view("agent_alive").astype(bool) & is_focal
    trust = np.abs(world.view("rel_trust")[alive]) * (world.view("rel_other")[alive] >= 0)
    days = max(1, agent_ticks) / day
    metrics = {
        "survival": 1.0 - deaths / max(1, seen),
        "needs": needs_sum / max(1, agent_ticks),
        "wages": wages / MINOR_PER_UNIT / days,
        "punctuality": float(np.mean(punct)) if punct else
        float(world.view("agent_attendance")[alive].mean()) if alive.any() else 0.0,
        "relationships": float((trust > TIE_TRUST).any(1).mean()) if alive.any() else 0.0,
        "return": ret / days,
    }
    return RunResult(policy=label, policy_hash=None if focal is None else focal.policy_hash,
                     metrics=metrics, deaths=deaths, focal_agents=seen,
                     clean_windows=monitor.pass_streak, alerts=sorted(monitor.failed_alerts))


def _regressions(cand: RunResult, ref: RunResult, tolerance: float) -> list[str]:
    return [m for m in METRICS
            if cand.metrics[m] < ref.metrics[m] - tolerance * abs(ref.metrics[m]) - 1e-9]


def _ref(p: LoadedPolicy) -> PolicyRef:
    return PolicyRef(name=p.name, policy_hash=p.policy_hash, checkpoint=p.checkpoint)


def evaluate(cfg: TownletConfig, suite: Suite, candidate: LoadedPolicy,
             release: LoadedPolicy | None) -> EvalReport:
    """Run every scenario of ``suite`` three times (candidate, release, scripted)."""
    promo = cfg.pilot.promotion
    reports = []
    for sc in suite.scenarios:
        bg = release if sc.background == "release" else None
        cand = run_scenario(cfg, sc, candidate.variant, candidate, bg, "candidate")
        rel = None if release is None else run_scenario(cfg, sc, candidate.variant, release,
                                                        bg, "release")
        base = run_scenario(cfg, sc, candidate.variant, None, bg, "scripted")
        reg = _regressions(cand, rel or base, promo.tolerance)
        reports.append(ScenarioReport(scenario=sc, candidate=cand, release=rel, scripted=base,
                                      regressions=reg))
    verdict = SuiteVerdict(
        suite=suite.name, suite_version=suite.version, evaluated_at=utc_now(),
        clean_windows=min(r.candidate.clean_windows for r in reports),
        alerts=sorted({a for r in reports for a in r.candidate.alerts}),
        regressions=[f"{r.scenario.name}.{m}" for r in reports for m in r.regressions],
        against=None if release is None else release.policy_hash)
    why = ready_reasons(verdict, verdict.clean_windows, promo.required_passes)
    return EvalReport(suite=suite.name, suite_version=suite.version,
                      evaluated_at=verdict.evaluated_at, candidate=_ref(candidate),
                      release=None if release is None else _ref(release),
                      tolerance=promo.tolerance, scenarios=reports, verdict=verdict,
                      ready=not why, reasons=why)
