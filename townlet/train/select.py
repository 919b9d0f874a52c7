"""Checkpoint selection by evaluation in held-out towns.

The last policy of a PPO run is not the best one it passed through: a warm start
drifts once its KL weight to the BC policy has decayed (docs/rl.md), and the
training return is measured with exploration on the training town. With
``eval_seeds`` set, every checkpoint the run writes is loaded (verified, like any
consumer would) and scored with ``townlet.train.score`` on a fresh town of each
held-out seed (never the training seed) for ``eval_ticks`` ticks, actions sampled
from the policy's own seeded generator (the training RNG streams are not touched,
so a run with selection learns exactly what it learns without). The best so far is
copied to ``best.pt`` (atomically; outside the retention of ``ckpt-*.pt``) and
every evaluation is listed in ``best.json``. A resumed run (``continue_run``) picks
up the selection of the directory's ``best.json`` when it used the same seeds and ticks.

Score, deaths first: fewer deaths summed over the seeds wins, then the higher mean
episode return over all of them; a tie keeps the earlier checkpoint.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import msgspec
import torch
from msgspec import Struct

from townlet.config import TownletConfig
from townlet.rl import TownletVectorEnv
from townlet.train.checkpoint import atomic_write
from townlet.train.policy import load_policy
from townlet.train.score import score

__all__ = ["BEST", "BEST_LOG", "Evaluation", "Selector"]

BEST = "best.pt"
"""The selected checkpoint's file name in the run directory."""
BEST_LOG = "best.json"
"""Every evaluation of the run and which one is ``best.pt``."""


class Evaluation(Struct, frozen=True, kw_only=True):
    """One checkpoint's figures over the held-out towns."""

    checkpoint: str
    policy_hash: str
    updates: int
    agent_steps: int
    deaths: int
    """Deaths summed over the seeds."""
    mean_return: float
    """Mean episode return over every episode that ended in the seeds' runs."""
    critical_share: float
    """Share of living agent-ticks with a need below its critical level (mean over seeds)."""

    def key(self) -> tuple[int, float]:
        """Smaller is better: deaths first, then the negated return."""
        return self.deaths, -self.mean_return


class Selector:
    """Scores a run's checkpoints on held-out towns and keeps the best (module doc)."""

    def __init__(self, town: TownletConfig, variant: str, out_dir: str | Path,
                 seeds: tuple[int, ...], ticks: int, *, continue_run: bool = False):
        if not seeds:
            raise ValueError("checkpoint selection needs at least one evaluation seed")
        self.env = TownletVectorEnv(town, variant=variant)
        self.seeds, self.ticks = tuple(seeds), ticks
        self.root = Path(out_dir)
        self.history: list[Evaluation] = []
        self.best: Evaluation | None = None
        log = self.root / BEST_LOG
        if continue_run and log.is_file() and (self.root / BEST).is_file():
            old = json.loads(log.read_text())
            if tuple(old["seeds"]) == self.seeds and old["ticks"] == ticks:
                self.history = msgspec.convert(old["evaluations"], list[Evaluation])
                self.best = msgspec.convert(old["best"], Evaluation)

    def evaluate(self, checkpoint: Path, updates: int, agent_steps: int) -> Evaluation:
        """Score ``checkpoint`` on every held-out seed."""
        deaths, ret_sum, episodes, critical = 0, 0.0, 0, 0.0
        policy_hash = ""
        for seed in self.seeds:
            with torch.random.fork_rng(devices=[]):  # building a net draws initial weights
                policy = load_policy(checkpoint, self.env.layout, seed=seed)
            policy_hash = policy.identity.policy_hash
            s = score(self.env, policy, self.ticks, seed=seed)
            deaths += s.deaths
            ret_sum += s.mean_return * s.episodes
            episodes += s.episodes
            critical += s.critical_share / len(self.seeds)
        return Evaluation(checkpoint=str(checkpoint), policy_hash=policy_hash, updates=updates,
                          agent_steps=agent_steps, deaths=deaths,
                          mean_return=ret_sum / max(episodes, 1), critical_share=critical)

    def offer(self, checkpoint: Path, updates: int, agent_steps: int) -> dict[str, Any]:
        """Evaluate a freshly written checkpoint; copy it to ``best.pt`` if it beats the
        best so far. Returns the metrics to add to the update's log line."""
        t0 = time.perf_counter()
        ev = self.evaluate(checkpoint, updates, agent_steps)
        self.history.append(ev)
        better = self.best is None or ev.key() < self.best.key()
        if better:
            with open(checkpoint, "rb") as src:
                atomic_write(self.root / BEST, lambda fh: shutil.copyfileobj(src, fh))
            self.best = ev
        assert self.best is not None
        log = {"seeds": list(self.seeds), "ticks": self.ticks,
               "best": msgspec.to_builtins(self.best),
               "evaluations": msgspec.to_builtins(self.history)}
        atomic_write(self.root / BEST_LOG,
                      lambda fh: fh.write(json.dumps(log, indent=1).encode()))
        return {"eval_deaths": ev.deaths, "eval_return": ev.mean_return,
                "eval_critical_share": ev.critical_share, "eval_best": better,
                "best_checkpoint": str(self.root / BEST), "best_policy_hash": self.best.policy_hash,
                "eval_sec": time.perf_counter() - t0}
