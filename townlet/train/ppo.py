"""PPO on ``TownletVectorEnv``: every agent slot is an environment, one network
(shared parameters) acts for all of them. Reads top to bottom: config ->
storage -> seeding -> rollout -> GAE -> update -> log.

Defaults follow SPEC/learning.md §5.2 except the minibatch size: the spec's 32
would mean thousands of tiny optimiser steps per update on a 512-agent town;
here ``mini_batch_size`` 0 means transitions / ``num_mini_batches`` (CleanRL's
rule), so one update is a handful of large batched matrix products.

Options are committed (``rl.commit``): only rows where the slot decided
(``infos["decide"]``) are actions. GAE runs over every tick (``gae(decide=)``);
the policy loss, entropy and advantage normalisation use decision rows only; the
value loss uses decision rows plus a ``value_sample`` share of the option's other
ticks (the critic must know mid-option states: a rollout ends inside options).

A warm start (``init``) keeps the behaviour it starts from: the first
``critic_warmup_updates`` updates train the critic only, and a KL(π_init ‖ π)
penalty on decision rows, weight ``bc_kl_coef`` halving every
``bc_kl_half_life`` agent steps down to ``bc_kl_floor``, holds the policy near
the initial one while the critic catches up.

With ``eval_seeds``, every checkpoint is scored on held-out towns and the best
is kept as ``best.pt`` (``townlet.train.select``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import torch

from townlet.config import TownletConfig, config_id
from townlet.rl import TownletVectorEnv
from townlet.rl.rewards import END_DEATH, apply_death_window
from townlet.train.checkpoint import (
    CheckpointStore,
    Counters,
    load_checkpoint,
    restore_rng,
    rng_state,
)
from townlet.train.gae import gae
from townlet.train.nets import NetConfig, PolicyNet, masked_logits
from townlet.train.ppo_config import PPOConfig
from townlet.train.select import Selector

__all__ = ["PPOConfig", "ppo_losses", "train"]


def ppo_losses(net: PolicyNet, cfg: PPOConfig, mb: dict[str, torch.Tensor], *,
               kl_coef: float = 0.0, policy: bool = True):
    """Clipped PPO loss on one minibatch; returns (loss, diagnostics tensors).

    Policy terms (clipped surrogate, entropy, KL to ``mb["init_logp"]`` weighted by
    ``kl_coef``) average over rows where ``mb["decides"]`` (every row if absent);
    the value loss over every row. ``policy=False`` drops the surrogate and entropy
    (critic warm-up)."""
    logits, value = net(mb["map"], mb["features"])
    mask = mb["mask"]
    logp_all = torch.log_softmax(masked_logits(logits, mask), -1)
    logp = logp_all.gather(1, mb["actions"][:, None]).squeeze(1)
    w = mb["decides"].float() if "decides" in mb else torch.ones_like(value)
    n_dec = w.sum().clamp(min=1.0)
    entropy = -torch.where(mask, logp_all.exp() * logp_all, 0.0).sum(-1)
    log_ratio = logp - mb["logp"]
    ratio = log_ratio.exp()
    adv = mb["adv"]
    surrogate = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip_param, 1 + cfg.clip_param))
    pg_loss = (surrogate * w).sum() / n_dec
    v_err = (value - mb["ret"]) ** 2
    if cfg.value_clip > 0:
        v_clip = mb["value"] + (value - mb["value"]).clamp(-cfg.value_clip, cfg.value_clip)
        v_err = torch.max(v_err, (v_clip - mb["ret"]) ** 2)
    v_loss = 0.5 * v_err.mean()
    ent = (entropy * w).sum() / n_dec
    loss = cfg.value_loss_coef * v_loss
    if policy:
        loss = loss + pg_loss - cfg.entropy_coef * ent
    kl_init = torch.zeros(())
    if "init_logp" in mb:
        p0 = mb["init_logp"].exp()
        kl_rows = torch.where(mask, p0 * (mb["init_logp"] - logp_all), 0.0).sum(-1)
        kl_init = (kl_rows * w).sum() / n_dec
        loss = loss + kl_coef * kl_init
    with torch.no_grad():
        diag = {"loss_policy": pg_loss, "loss_value": v_loss, "loss_entropy": ent,
                "loss_total": loss, "kl_init": kl_init,
                "kl_divergence": (((ratio - 1) - log_ratio) * w).sum() / n_dec,
                "clip_fraction": (((ratio - 1).abs() > cfg.clip_param).float() * w).sum() / n_dec}
    return loss, {k: v.detach() for k, v in diag.items()}


def _explained_variance(pred: np.ndarray, target: np.ndarray) -> float:
    var = float(np.var(target))
    return float("nan") if var == 0 else 1.0 - float(np.var(target - pred)) / var


def train(cfg: PPOConfig, town: TownletConfig, out_dir: str | Path,
          on_update: Callable[[dict[str, Any]], None] | None = None,
          env: Any = None) -> Path:
    """Run PPO; checkpoints go to ``out_dir``; ``on_update`` gets each update's
    metrics. Returns the last checkpoint's path. ``env`` (default: one
    ``TownletVectorEnv`` of ``town``) may be any vector env of ``town`` with the same
    interface and a ``layout``, e.g. ``townlet.scale.ShardedVectorEnv`` (many towns)."""
    # ---------------------------------------------------------------- seeding
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    env = env if env is not None else TownletVectorEnv(town, variant=cfg.variant)
    obs, infos = env.reset(seed=cfg.seed)
    layout, n, T = env.layout, env.num_envs, cfg.rollout_ticks
    parent = None
    init_net: PolicyNet | None = None
    if cfg.init is not None:
        start = load_checkpoint(cfg.init, layout)
        gate = start.meta.training.get("gate")
        if start.meta.training.get("algo") == "bc" and not (gate and gate.get("passed")):
            reasons = "; ".join(gate["reasons"]) if gate else "no gate recorded"
            raise ValueError(f"{cfg.init}: this behaviour-cloning policy failed its quality "
                             f"gate ({reasons}); it may not seed PPO")
        net = start.build_net().train()
        init_net = start.build_net().requires_grad_(False)
        parent = start.meta.policy_hash
    else:
        net = PolicyNet(NetConfig.for_layout(layout, hidden=cfg.hidden))
    counters = Counters()
    resumed = None
    if cfg.resume is not None:
        resumed = load_checkpoint(cfg.resume, layout)
        if resumed.meta.training.get("algo") != "ppo" or resumed.optimizer is None:
            raise ValueError(f"{cfg.resume}: not a PPO checkpoint (use --init to start from "
                             f"another policy)")
        net = resumed.build_net().train()
        parent, counters = resumed.meta.parent_policy_hash, resumed.meta.counters
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, eps=1e-5)
    if resumed is not None and resumed.optimizer is not None:
        opt.load_state_dict(resumed.optimizer)
        opt.param_groups[0]["lr"] = cfg.learning_rate  # this run's setting wins
        if resumed.rng is not None:
            restore_rng(resumed.rng, rng)
    store = CheckpointStore(out_dir, retain=cfg.retain)
    selector = Selector(town, cfg.variant, out_dir, cfg.eval_seeds, cfg.eval_ticks,
                        continue_run=resumed is not None) if cfg.eval_seeds else None
    meta = {"algo": "ppo", "ppo": msgspec.to_builtins(cfg), "obs_layout_hash": layout.layout_hash}
    # ---------------------------------------------------------------- storage
    buf = {"map": torch.zeros((T, n, *layout.map_shape)),
           "features": torch.zeros((T, n, layout.n_features)),
           "mask": torch.zeros((T, n, env.single_action_space.n), dtype=torch.bool),
           "actions": torch.zeros((T, n), dtype=torch.int64),
           "logp": torch.zeros((T, n)), "value": torch.zeros((T, n))}
    rewards = np.zeros((T, n), np.float32)
    end_kind = np.zeros((T, n), np.int8)
    acted, terminated, truncated, decide = (np.zeros((T, n), np.bool_) for _ in range(4))
    updates_total = max(counters.updates + 1, cfg.total_agent_steps // (T * n))
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    path = None
    for update in range(counters.updates + 1, updates_total + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        if cfg.anneal_lr:
            opt.param_groups[0]["lr"] = cfg.learning_rate * (1 - (update - 1) / updates_total)
        # ------------------------------------------------------------ rollout
        ended: list[np.ndarray] = []
        net.eval()
        for t in range(T):
            m = torch.from_numpy(obs["map"])
            f = torch.from_numpy(obs["features"])
            mask = torch.from_numpy(infos["action_mask"])
            buf["map"][t].copy_(m)
            buf["features"][t].copy_(f)
            buf["mask"][t].copy_(mask)
            decide[t] = infos["decide"]
            with torch.inference_mode():
                logits, value = net(m, f)
                logp_all = torch.log_softmax(masked_logits(logits, mask), -1)
                action = torch.multinomial(logp_all.exp(), 1).squeeze(1)
            buf["actions"][t] = action
            buf["logp"][t] = logp_all.gather(1, action[:, None]).squeeze(1)
            buf["value"][t] = value
            obs, reward, term, trunc, infos = env.step(action.numpy())
            rewards[t], terminated[t], truncated[t] = reward, term, trunc
            acted[t], end_kind[t] = infos["acted"], infos["end_kind"]
            ended.append(infos["episode"]["r"][infos["_episode"]].copy())
        with torch.inference_mode():
            next_value = net(torch.from_numpy(obs["map"]),
                             torch.from_numpy(obs["features"]))[1].numpy()
        t_rollout = time.perf_counter() - t0
        # ---------------------------------------------------------------- GAE
        shaped = rewards.copy()
        apply_death_window(shaped, end_kind, town.rl.rewards.clip.death_window)
        values = buf["value"].numpy()
        adv, ret = gae(shaped, values, next_value, acted, terminated, truncated,
                       cfg.gamma, cfg.gae_lambda, decide=decide)
        chosen = acted & decide
        rows_used = chosen | (acted & (rng.random((T, n)) < cfg.value_sample))
        idx = torch.from_numpy(np.flatnonzero(rows_used.reshape(-1)))
        flat = {k: v.reshape(T * n, *v.shape[2:])[idx] for k, v in buf.items()}
        flat["decides"] = torch.from_numpy(chosen.reshape(-1))[idx]
        flat["adv"] = torch.from_numpy(adv.reshape(-1))[idx]
        if cfg.advantage_normalization:  # over the batch's decisions (SPEC §5.3)
            a_dec = flat["adv"][flat["decides"]]
            if len(a_dec) > 1:
                flat["adv"] = (flat["adv"] - a_dec.mean()) / (a_dec.std() + 1e-8)
        flat["ret"] = torch.from_numpy(ret.reshape(-1))[idx]
        kl_coef = 0.0
        if init_net is not None:
            kl_coef = cfg.kl_weight(counters.agent_steps)
            with torch.inference_mode():
                flat["init_logp"] = torch.log_softmax(masked_logits(
                    init_net(flat["map"], flat["features"])[0], flat["mask"]), -1)
        warmup = init_net is not None and update <= cfg.critic_warmup_updates
        # ------------------------------------------------------------- update
        net.train()
        size = len(idx)
        mb_size = cfg.mini_batch_size or max(1, size // cfg.num_mini_batches)
        n_batches = max(1, -(-size // mb_size))  # equal parts: no 1-row tail batch
        sums: dict[str, float] = {}
        batches = 0
        grad_norm = 0.0
        for _ in range(cfg.num_epochs):
            for part in np.array_split(rng.permutation(size), n_batches):
                rows = torch.from_numpy(part)
                mb = {k: v[rows] for k, v in flat.items()}
                loss, diag = ppo_losses(net, cfg, mb, kl_coef=kl_coef, policy=not warmup)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.max_grad_norm > 0:
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(),
                                                                     cfg.max_grad_norm))
                opt.step()
                for k, v in diag.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                batches += 1
        # ---------------------------------------------------------------- log
        counters = Counters(updates=counters.updates + 1,
                            agent_steps=counters.agent_steps + T * n,
                            env_steps=counters.env_steps + T)
        returns = np.concatenate(ended)
        elapsed = time.perf_counter() - t0
        metrics: dict[str, Any] = {
            "update": update, "updates": updates_total, "steps": counters.agent_steps,
            "transitions": int(acted.sum()), "decisions": int(chosen.sum()), "rows": size,
            "critic_warmup": warmup, "kl_coef": kl_coef, "lr": opt.param_groups[0]["lr"],
            **{k: v / max(batches, 1) for k, v in sums.items()},
            "grad_norm": grad_norm, "adv_mean": float(adv[chosen].mean()) if chosen.any() else 0.0,
            "adv_std": float(adv[chosen].std()) if chosen.any() else 0.0,
            "explained_variance": _explained_variance(values[acted], ret[acted]),
            "return_mean": float(returns.mean()) if len(returns) else None,
            "episodes": len(returns), "reward_mean": float(rewards[acted].mean()),
            "deaths": int((terminated & (end_kind == END_DEATH)).sum()),
            "env_steps_per_sec": T * n / elapsed,
            "env_steps_per_cpu_sec": T * n / max(time.process_time() - c0, 1e-9),
            "wall_sec": time.perf_counter() - t_start, "cpu_sec": time.process_time() - cpu_start,
            "rollout_sec": t_rollout,
            "update_sec": elapsed - t_rollout, "obs_layout_hash": layout.layout_hash,
        }
        last = update == updates_total or (
            cfg.max_seconds > 0 and time.perf_counter() - t_start >= cfg.max_seconds)
        if last or update % cfg.checkpoint_every == 0:
            path, saved = store.save(net, layout, config_id=config_id(town), optimizer=opt,
                                     counters=counters, parent=parent, rng=rng_state(rng),
                                     training={**meta, "last_update": metrics})
            metrics["policy_hash"] = saved.policy_hash
            metrics["checkpoint"] = str(path)
            if selector is not None:
                metrics.update(selector.offer(path, counters.updates, counters.agent_steps))
        if on_update is not None:
            on_update(metrics)
        if last:
            break
    assert path is not None
    return path
