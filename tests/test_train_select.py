"""Checkpoint selection by evaluation: every checkpoint is scored on held-out towns,
the best (deaths first, then return) is kept as best.pt, the training run itself is
unchanged by it, and the training seed is refused as an evaluation seed."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch", reason="needs the rl extra")

from click.testing import CliRunner

from townlet.cli import main
from townlet.config import default_config, with_agents
from townlet.train.checkpoint import load_checkpoint
from townlet.train.ppo import PPOConfig, train
from townlet.train.select import BEST, BEST_LOG, Evaluation

TOWN = with_agents(default_config(), 16)


def _eval(deaths: int, ret: float) -> Evaluation:
    return Evaluation(checkpoint="c", policy_hash="h", updates=1, agent_steps=1,
                      deaths=deaths, mean_return=ret, critical_share=0.0)


def test_fewer_deaths_win_before_a_higher_return():
    assert _eval(0, -5.0).key() < _eval(1, 20.0).key()
    assert _eval(1, 3.0).key() < _eval(1, 2.0).key()


def test_selection_keeps_the_best_checkpoint_without_changing_the_run(tmp_path):
    base = {"total_agent_steps": 16 * 16 * 4, "rollout_ticks": 16, "checkpoint_every": 1,
            "retain": 10}
    plain, chosen = [], []
    train(PPOConfig(**base), TOWN, tmp_path / "plain", plain.append)
    train(PPOConfig(**base, eval_seeds=(7, 8), eval_ticks=60), TOWN, tmp_path / "sel",
          chosen.append)
    # the evaluation uses its own towns and generators: the learning is identical
    assert [m["policy_hash"] for m in chosen] == [m["policy_hash"] for m in plain]
    log = json.loads((tmp_path / "sel" / BEST_LOG).read_text())
    assert log["seeds"] == [7, 8] and log["ticks"] == 60
    evals = [Evaluation(**e) for e in log["evaluations"]]
    assert [e.updates for e in evals] == [1, 2, 3, 4]
    assert [e.deaths for e in evals] == [m["eval_deaths"] for m in chosen]
    best = min(evals, key=Evaluation.key)  # min keeps the first of equals, like the run
    assert log["best"]["policy_hash"] == best.policy_hash == chosen[-1]["best_policy_hash"]
    kept = tmp_path / "sel" / BEST
    assert kept.read_bytes() == (tmp_path / "sel" / f"ckpt-{best.updates:08d}.pt").read_bytes()
    assert load_checkpoint(kept).meta.policy_hash == best.policy_hash
    assert chosen[0]["eval_best"] is True
    # a resumed run continues the selection of its directory
    more = []
    train(PPOConfig(**{**base, "total_agent_steps": 16 * 16 * 5}, eval_seeds=(7, 8),
                    eval_ticks=60, resume=str(tmp_path / "sel" / "ckpt-00000004.pt")),
          TOWN, tmp_path / "sel", more.append)
    log = json.loads((tmp_path / "sel" / BEST_LOG).read_text())
    assert [e["updates"] for e in log["evaluations"]] == [1, 2, 3, 4, 5]


def test_the_training_seed_is_refused_for_selection(tmp_path):
    with pytest.raises(ValueError, match="evaluation seed 3 is the training seed"):
        PPOConfig(seed=3, eval_seeds=(3,))
    out = CliRunner().invoke(main, ["train", "ppo", "--agents", "16", "--steps", "16",
                                    "--seed", "0", "--eval-seed", "0",
                                    "--out", str(tmp_path / "x")])
    assert out.exit_code == 2 and "held-out towns" in out.output
    out = CliRunner().invoke(main, ["train", "ppo", "--agents", "16", "--steps", "16",
                                    "--seed", "0", "--shards", "2", "--eval-seed", "1",
                                    "--out", str(tmp_path / "x")])
    assert out.exit_code == 2 and "training towns of the 2 shards" in out.output
    assert not (tmp_path / "x").exists()
