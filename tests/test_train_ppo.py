"""PPO and behaviour cloning with tiny budgets: losses go down, metrics are
complete, checkpoints carry identity, the BC gate is enforced, datasets from
another layout are refused, and the CLI runs end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the rl extra")

from click.testing import CliRunner

from townlet.cli import main
from townlet.config import default_config, with_agents, with_settings
from townlet.rl import TownletVectorEnv
from townlet.rl.layout import build_layout
from townlet.train.bc import BCConfig, train_bc
from townlet.train.checkpoint import load_checkpoint
from townlet.train.dataset import DatasetError, load_dataset, record
from townlet.train.nets import NetConfig, PolicyNet
from townlet.train.policy import load_policy
from townlet.train.ppo import PPOConfig, ppo_losses, train

TOWN = with_agents(default_config(), 16)
METRICS = {"loss_policy", "loss_value", "loss_entropy", "loss_total", "kl_divergence",
           "clip_fraction", "explained_variance", "grad_norm", "return_mean", "deaths",
           "env_steps_per_sec", "steps", "lr"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("bc") / "scripted.npz"
    meta = record(TOWN, path, ticks=480, stride=2, seed=1)
    return path, meta


def test_ppo_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    env = TownletVectorEnv(TOWN, variant="compact")
    obs, infos = env.reset(seed=0)
    net = PolicyNet(NetConfig.for_layout(env.layout))
    n = env.num_envs
    mb = {"map": torch.from_numpy(obs["map"].copy()),
          "features": torch.from_numpy(obs["features"].copy()),
          "mask": torch.from_numpy(infos["action_mask"].copy()),
          "actions": torch.zeros(n, dtype=torch.int64), "logp": torch.full((n,), -2.7),
          "value": torch.zeros(n), "adv": torch.linspace(-1, 1, n), "ret": torch.ones(n)}
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss, diag = ppo_losses(net, PPOConfig(), mb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(diag["loss_total"]))
        assert all(math.isfinite(float(v)) for v in diag.values())
    assert losses[-1] < losses[0] - 0.1


def test_ppo_run_reports_every_metric_and_writes_a_verified_checkpoint(tmp_path):
    seen = []
    cfg = PPOConfig(total_agent_steps=16 * 32 * 3, rollout_ticks=32, checkpoint_every=2,
                    retain=2)
    path = train(cfg, TOWN, tmp_path, seen.append)
    assert [m["update"] for m in seen] == [1, 2, 3]
    assert METRICS <= set(seen[-1])
    assert seen[-1]["loss_value"] < seen[0]["loss_value"]
    assert seen[-1]["checkpoint"] == str(path) and "checkpoint" not in seen[0]
    ckpt = load_checkpoint(path, build_layout(TOWN, "compact"))
    assert ckpt.meta.counters.updates == 3 and ckpt.meta.counters.agent_steps == 16 * 32 * 3
    assert ckpt.meta.training["algo"] == "ppo" and ckpt.meta.policy_hash == seen[-1][
        "policy_hash"]
    assert ckpt.optimizer is not None and ckpt.rng is not None


def test_ppo_learns_from_decisions_only(tmp_path):
    seen = []
    train(PPOConfig(total_agent_steps=16 * 64 * 2, rollout_ticks=64), TOWN, tmp_path,
          seen.append)
    for m in seen:  # committed options: far fewer decisions than transitions
        assert 0 < m["decisions"] < m["transitions"] <= 16 * 64
        assert m["decisions"] <= m["rows"] <= m["transitions"]


def test_bc_learns_the_teacher_and_its_gate_decides_warm_starts(tmp_path, dataset):
    path, meta = dataset
    data = load_dataset(path, build_layout(TOWN, "compact"))
    assert data["meta"]["layout_hash"] == meta["layout_hash"]
    assert len(data["actions"]) == meta["rows"] and data["map"].dtype == np.float16
    report = train_bc(TOWN, path, tmp_path / "bc.pt", BCConfig(epochs=30, batch_size=128))
    assert report["loss_per_epoch"][-1] < report["loss_per_epoch"][0]
    assert report["held_out_accuracy"] > report["majority_share"]
    assert report["rows_held_out"] > 0 and report["distinct_actions"] >= 2
    strict = train_bc(TOWN, path, tmp_path / "strict.pt", BCConfig(epochs=1, min_accuracy=1.0,
                                                                   max_majority_share=0.01))
    assert not strict["gate"]["passed"]
    assert any("majority" in r for r in strict["gate"]["reasons"])
    # rare decisions (well under 1% of rows) are gated too once they have support
    rare = train_bc(TOWN, path, tmp_path / "rare.pt", BCConfig(epochs=1, min_support=1,
                                                               min_action_recall=1.01))
    counts = rare["action_counts"]
    rare_names = [a for a, c in counts.items() if c < 0.01 * sum(counts.values())]
    assert rare_names
    assert any(f"recall of {a}" in r for a in rare_names for r in rare["gate"]["reasons"])
    with pytest.raises(ValueError, match="failed its quality gate.*majority"):
        train(PPOConfig(total_agent_steps=16, init=str(tmp_path / "strict.pt")), TOWN,
              tmp_path / "run")
    assert report["gate"]["passed"], report["gate"]["reasons"]
    seen = []
    warm = train(PPOConfig(total_agent_steps=16 * 32 * 4, rollout_ticks=32,
                           init=str(tmp_path / "bc.pt"), critic_warmup_updates=1,
                           bc_kl_half_life=16 * 32, bc_kl_floor=0.2), TOWN, tmp_path / "warm",
                 seen.append)
    assert load_checkpoint(warm).meta.parent_policy_hash == report["policy_hash"]
    # critic first; the KL to the BC policy starts at 0 and its weight halves per rollout
    # down to its floor
    assert [m["critic_warmup"] for m in seen] == [True, False, False, False]
    assert seen[0]["kl_init"] < 0.01
    assert [m["kl_coef"] for m in seen] == pytest.approx([1.0, 0.5, 0.25, 0.2])


def test_dataset_from_another_layout_is_refused(tmp_path, dataset):
    path, _ = dataset
    other = with_settings(TOWN, {"rl.observations.top_friends": 1}, "test")
    with pytest.raises(DatasetError, match="recorded with observation layout compact/"):
        load_dataset(path, build_layout(other, "compact"))
    with pytest.raises(DatasetError, match="recorded with observation layout"):
        train_bc(other, path, tmp_path / "x.pt")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="not a readable dataset"):
        load_dataset(tmp_path / "junk.npz")


def test_cli_trains_scores_and_refuses_bad_input(tmp_path, dataset):
    path, _ = dataset
    run = CliRunner().invoke
    out = run(main, ["train", "ppo", "--agents", "16", "--steps", "256", "--rollout-ticks",
                     "8", "--out", str(tmp_path / "ppo"), "--json"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == 2 and "checkpoint" in lines[-1]
    out = run(main, ["train", "baselines", "--agents", "16", "--ticks", "20", "--json",
                     "--policy", "random", "--policy", lines[-1]["checkpoint"]])
    assert out.exit_code == 0, out.output
    assert [json.loads(x)["policy"] for x in out.stdout.splitlines()] == [
        "random", lines[-1]["checkpoint"]]
    out = run(main, ["train", "baselines", "--agents", "16", "--variant", "hybrid",
                     "--policy", lines[-1]["checkpoint"]])
    assert out.exit_code == 2 and "trained on observation layout compact/" in out.output
    out = run(main, ["train", "bc", str(path), "--agents", "16", "--epochs", "1",
                     "--min-accuracy", "1.0", "--out", str(tmp_path / "bc.pt")])
    assert out.exit_code == 3 and "gate FAILED" in out.output
    out = run(main, ["train", "ppo", "--agents", "16", "--steps", "16", "--out",
                     str(tmp_path / "p2"), "--init", str(tmp_path / "bc.pt")])
    assert out.exit_code == 2 and "failed its quality gate" in out.output
    policy = load_policy(lines[-1]["checkpoint"])
    assert policy.identity.variant == "compact"


def test_resume_continues_the_run_and_refuses_a_foreign_checkpoint(tmp_path, dataset):
    step = 16 * 16
    first = train(PPOConfig(total_agent_steps=step * 2, rollout_ticks=16), TOWN, tmp_path / "a")
    before = load_checkpoint(first)
    seen = []
    last = train(PPOConfig(total_agent_steps=step * 3, rollout_ticks=16, resume=str(first)),
                 TOWN, tmp_path / "b", seen.append)
    assert [m["update"] for m in seen] == [3] and seen[0]["steps"] == step * 3
    after = load_checkpoint(last)
    assert after.meta.counters.updates == 3 and after.meta.counters.env_steps == 48
    adam_steps = [float(s["step"]) for s in after.optimizer["state"].values()]
    more = {a - float(before.optimizer["state"][0]["step"]) for a in adam_steps}
    assert len(more) == 1 and more.pop() in (16.0, 20.0)  # Adam continues: 4 epochs x 4-5
    other = with_settings(TOWN, {"rl.observations.top_friends": 1}, "test")
    with pytest.raises(ValueError, match="trained on observation layout"):
        train(PPOConfig(total_agent_steps=step * 3, rollout_ticks=16, resume=str(first)),
              other, tmp_path / "c")
    path, _ = dataset
    train_bc(TOWN, path, tmp_path / "bc.pt", BCConfig(epochs=1))
    with pytest.raises(ValueError, match="not a PPO checkpoint"):
        train(PPOConfig(total_agent_steps=step, resume=str(tmp_path / "bc.pt")), TOWN,
              tmp_path / "d")


@pytest.mark.parametrize(("given", "expect"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_importing_train_makes_idle_openmp_workers_sleep(given, expect):
    """townlet.train sets OMP_WAIT_POLICY before torch loads (a spinning OpenMP worker
    of the town's kernels took torch's core), and keeps a policy the user chose."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    code = ("import sys, os, townlet.train.ppo; assert 'torch' in sys.modules; "
            "print(os.environ['OMP_WAIT_POLICY'])")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, check=True, timeout=300)
    assert child.stdout.strip() == expect
