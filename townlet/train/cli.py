"""``townlet train``: score baselines, record scripted trajectories, behaviour
cloning and PPO. Results go to stdout (``--json``: one JSON object per line),
logs to stderr through ``townlet.ops`` (structured), progress bars to stderr."""

from __future__ import annotations

import json
import sys
from typing import get_args

import click

from townlet.config.options import agents_option, config_option, seed_option
from townlet.config.rl import Variant
from townlet.train.ppo_config import PPOConfig

__all__ = ["train_command"]

_PPO = PPOConfig()
"""Defaults of `townlet train ppo` (one definition: PPOConfig)."""

variant_option = click.option(
    "--variant", type=click.Choice(get_args(Variant)), default="compact", show_default=True,
    help="Observation variant (docs/rl.md, Observations).")


def _town(config_path, agents):
    from townlet.config import ConfigError, load_config, with_agents

    try:
        cfg = load_config(config_path)
        return with_agents(cfg, agents) if agents else cfg
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@click.group()
def train_command() -> None:
    """Train and evaluate policies on a town (needs the rl extra). See docs/rl.md."""


@train_command.command("baselines")
@config_option
@agents_option
@seed_option()
@variant_option
@click.option("--ticks", type=click.IntRange(min=1), default=2880, show_default=True,
              help="Ticks to run each policy.")
@click.option("--policy", "policies", multiple=True,
              help="Baseline(s) to score (default: all) or a checkpoint file.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per policy on stdout.")
def baselines(config_path, agents, seed, variant, ticks, policies, as_json) -> None:
    """Score policies on the same town and seed: mean episode return, reward per
    tick, deaths, share of agent-ticks with a critical need, share of clipped rewards."""
    import msgspec
    from rich.console import Console
    from rich.table import Table

    from townlet.rl import TownletVectorEnv
    from townlet.rl.baselines import BASELINES, baseline
    from townlet.train.checkpoint import CheckpointError
    from townlet.train.policy import load_policy
    from townlet.train.score import score

    env = TownletVectorEnv(_town(config_path, agents), variant=variant)
    env.reset(seed=seed)
    table = Table("policy", "return", "reward/tick", "episodes", "deaths", "deaths/agent-day",
                  "critical share", "clipped share")
    for name in policies or tuple(BASELINES):
        try:
            act = baseline(name, env, seed) if name in BASELINES else load_policy(
                name, env.layout, seed=seed)
        except (CheckpointError, ValueError) as exc:
            _fail(exc)
        s = score(env, act, ticks, seed=seed, name=name)
        if as_json:
            click.echo(json.dumps(msgspec.to_builtins(s)))
        table.add_row(name, f"{s.mean_return:.2f}", f"{s.reward_per_tick:.4f}", str(s.episodes),
                      str(s.deaths), f"{s.deaths_per_agent_day:.3f}", f"{s.critical_share:.3f}",
                      f"{s.clipped_share:.3f}")
    if not as_json:
        Console().print(table)


@train_command.command("record")
@config_option
@agents_option
@seed_option()
@variant_option
@click.option("--ticks", type=click.IntRange(min=1), default=2880, show_default=True,
              help="Ticks to record.")
@click.option("--stride", type=click.IntRange(min=1), default=4, show_default=True,
              help="Keep every stride-th tick (returns use every tick).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True,
              help="Dataset file to write (.npz, format in docs/rl.md).")
def record_cmd(config_path, agents, seed, variant, ticks, stride, out_path) -> None:
    """Record the scripted teacher's trajectories for behaviour cloning."""
    from townlet.train.dataset import record

    meta = record(_town(config_path, agents), out_path, variant=variant, ticks=ticks,
                  stride=stride, seed=seed)
    click.echo(json.dumps({k: meta[k] for k in ("rows", "config_id", "layout_hash",
                                                 "action_space_hash", "variant")}))


@train_command.command("bc")
@config_option
@agents_option
@click.argument("dataset", type=click.Path(dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True,
              help="Checkpoint file to write.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Passes over the training part of the dataset.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seeds the train/held-out split, initial weights and shuffles.")
@click.option("--min-accuracy", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="Gate: held-out accuracy needed to seed PPO.")
@click.option("--min-recall", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Gate: held-out recall needed for every action with >= 50 held-out rows.")
@click.option("--balance", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Weigh each action's rows by count^-balance (rare decisions count).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def bc_cmd(config_path, agents, dataset, out_path, epochs, seed, min_accuracy, min_recall,
           balance, as_json) -> None:
    """Behaviour cloning on a recorded dataset; reports held-out accuracy, per-action
    recall and the gate (exit code 3 if the gate fails; the checkpoint is written
    either way, marked as failed, and PPO refuses it as --init)."""
    from townlet.train.bc import BCConfig, train_bc
    from townlet.train.dataset import DatasetError

    try:
        report = train_bc(_town(config_path, agents), dataset, out_path,
                          BCConfig(epochs=epochs, seed=seed, min_accuracy=min_accuracy,
                                   min_action_recall=min_recall, balance=balance))
    except DatasetError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(f"held-out accuracy {report['held_out_accuracy']:.4f}  "
                   f"gate {'passed' if report['gate']['passed'] else 'FAILED'}  "
                   f"policy {report['policy_hash'][:12]}  -> {out_path}")
        for reason in report["gate"]["reasons"]:
            click.echo(f"  {reason}")
    if not report["gate"]["passed"]:
        sys.exit(3)


@train_command.command("ppo")
@config_option
@agents_option
@seed_option("Also seeds torch and the minibatch shuffles.")
@variant_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Directory for checkpoints (ckpt-<update>.pt, newest --retain kept).")
@click.option("--steps", type=click.IntRange(min=1), default=_PPO.total_agent_steps,
              show_default=True, help="Agent transitions to train on (ticks x agents).")
@click.option("--minutes", type=click.FloatRange(min=0), default=_PPO.max_seconds / 60, show_default=True,
              help="Stop after this much wall time (0 = no limit).")
@click.option("--rollout-ticks", type=click.IntRange(min=1), default=_PPO.rollout_ticks, show_default=True,
              help="Ticks per rollout; one update learns from rollout-ticks x agents.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=_PPO.learning_rate,
              show_default=True, help="Adam learning rate.")
@click.option("--epochs", type=click.IntRange(1, 64), default=_PPO.num_epochs, show_default=True,
              help="Passes over each rollout.")
@click.option("--minibatches", type=click.IntRange(1, 1024), default=_PPO.num_mini_batches, show_default=True,
              help="Minibatches per pass (each: policy transitions / minibatches).")
@click.option("--entropy-coef", type=click.FloatRange(min=0), default=_PPO.entropy_coef, show_default=True,
              help="Weight of the entropy bonus.")
@click.option("--hidden", type=click.IntRange(min=1), default=_PPO.hidden, show_default=True,
              help="Width of the network's layers (ignored with --init).")
@click.option("--threads", type=click.IntRange(min=1), default=_PPO.threads, show_default=True,
              help="torch threads (more only pays on idle cores).")
@click.option("--init", type=click.Path(dir_okay=False),
              help="Start from this checkpoint (a BC policy must have passed its gate).")
@click.option("--resume", type=click.Path(dir_okay=False),
              help="Continue this PPO checkpoint (weights, optimiser, RNG states, counters; "
                   "--steps counts its steps too; the town restarts from --seed).")
@click.option("--value-sample", type=click.FloatRange(0, 1), default=_PPO.value_sample, show_default=True,
              help="Share of ticks inside options that also train the critic.")
@click.option("--bc-kl-coef", type=click.FloatRange(min=0), default=_PPO.bc_kl_coef, show_default=True,
              help="With --init: initial weight of KL(init policy || policy).")
@click.option("--bc-kl-half-life", type=click.IntRange(min=0), default=_PPO.bc_kl_half_life,
              show_default=True, help="With --init: agent steps over which that weight halves "
                                      "(0 = constant).")
@click.option("--bc-kl-floor", type=click.FloatRange(min=0), default=_PPO.bc_kl_floor,
              show_default=True, help="With --init: the weight never decays below this.")
@click.option("--critic-warmup", type=click.IntRange(min=0), default=_PPO.critic_warmup_updates, show_default=True,
              help="With --init: first updates train the critic only.")
@click.option("--eval-seed", "eval_seeds", type=click.IntRange(min=0), multiple=True,
              help="Checkpoint selection: score every checkpoint on a fresh town of this seed "
                   "(repeatable; never --seed) and keep the best (fewest deaths, then highest "
                   "return) as best.pt in --out.")
@click.option("--eval-ticks", type=click.IntRange(min=1), default=_PPO.eval_ticks,
              show_default=True, help="With --eval-seed: ticks of each selection run.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=_PPO.checkpoint_every, show_default=True,
              help="Updates between checkpoints (one is always written at the end).")
@click.option("--retain", type=click.IntRange(min=1), default=_PPO.retain, show_default=True,
              help="Checkpoints kept in --out (oldest removed).")
@click.option("--shards", type=click.IntRange(min=1), default=1, show_default=True,
              help="Towns to learn from at once, each in its own Ray actor (seeds SEED, "
                   "SEED+1, ...; needs the ray extra; docs/scaling.md).")
@click.option("--ray-address", default="local", show_default=True, metavar="ADDRESS",
              help="With --shards > 1: 'local' starts Ray, 'auto' or ray://host:port joins a "
                   "cluster.")
@click.option("--json", "as_json", is_flag=True,
              help="Print each update's metrics as one JSON line on stdout.")
def ppo_cmd(config_path, agents, seed, variant, out_dir, steps, minutes, rollout_ticks, lr,
            epochs, minibatches, entropy_coef, hidden, threads, init, resume, value_sample,
            bc_kl_coef, bc_kl_half_life, bc_kl_floor, critic_warmup, eval_seeds, eval_ticks,
            checkpoint_every, retain, shards, ray_address, as_json) -> None:
    """PPO with one shared network for every agent (docs/rl.md, "PPO")."""
    import structlog
    from rich.console import Console
    from rich.progress import Progress

    from townlet.train.ppo import train

    try:
        cfg = PPOConfig(seed=seed, variant=variant, total_agent_steps=steps,
                        max_seconds=minutes * 60, rollout_ticks=rollout_ticks, learning_rate=lr,
                        num_epochs=epochs, num_mini_batches=minibatches,
                        entropy_coef=entropy_coef, hidden=hidden, threads=threads, init=init,
                        resume=resume, value_sample=value_sample, bc_kl_coef=bc_kl_coef,
                        bc_kl_half_life=bc_kl_half_life, bc_kl_floor=bc_kl_floor,
                        eval_seeds=eval_seeds, eval_ticks=eval_ticks,
                        critic_warmup_updates=critic_warmup,
                        checkpoint_every=checkpoint_every, retain=retain)
    except ValueError as exc:
        _fail(exc)
    shard_seeds = sorted(set(eval_seeds) & set(range(seed, seed + shards)))
    if shard_seeds:
        _fail(ValueError(f"evaluation seed(s) {shard_seeds} are training towns of the "
                         f"{shards} shards (seeds {seed}..{seed + shards - 1}): checkpoint "
                         f"selection needs held-out towns"))
    log = structlog.get_logger("townlet.train")
    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("ppo", total=steps)

        def on_update(m):
            log.info("ppo_update", **m)
            if as_json:
                click.echo(json.dumps(m))
            ret = "-" if m["return_mean"] is None else f"{m['return_mean']:.2f}"
            bar.update(task, completed=m["steps"],
                       description=f"ppo return {ret} deaths {m['deaths']} "
                                   f"{m['env_steps_per_sec']:.0f}/s")

        town = _town(config_path, agents)
        env = None
        if shards > 1:
            from townlet.scale.rollouts import ShardedVectorEnv

            env = ShardedVectorEnv(town, [seed + i for i in range(shards)], variant=variant,
                                   address=ray_address)
        try:
            path = train(cfg, town, out_dir, on_update, env=env)
        except ValueError as exc:
            _fail(exc)
        finally:
            if env is not None:
                env.close()
    if not as_json:
        click.echo(f"checkpoint {path}")
        if eval_seeds:
            from townlet.train.select import BEST

            click.echo(f"best (by evaluation) {path.parent / BEST}")
