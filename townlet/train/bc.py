"""Behaviour cloning from a recorded dataset, and the gate that decides whether
the cloned policy may seed PPO.

The dataset is split by trajectory (whole episodes) into train and held-out
parts. The network learns the teacher's actions (cross-entropy on masked
logits) and, so that a warm-started PPO does not begin with a useless critic,
the recorded return-to-go (``value_coef`` x MSE). The gate is checked on the
held-out part only and recorded in the checkpoint (``training.gate``);
``townlet train ppo --init`` refuses a BC checkpoint whose gate failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import torch
from msgspec import Struct

from townlet.config import TownletConfig
from townlet.rl.layout import build_layout
from townlet.train.checkpoint import Counters, save_checkpoint
from townlet.train.dataset import load_dataset
from townlet.train.nets import NetConfig, PolicyNet, masked_logits

__all__ = ["BCConfig", "gate_failures", "train_bc"]


class BCConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Behaviour-cloning run settings and gate thresholds (stored in the checkpoint)."""

    seed: int = 0
    epochs: int = 10
    batch_size: int = 512
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    value_coef: float = 0.5
    hidden: int = 64
    held_out: float = 0.2
    """Share of trajectories kept out of training to measure accuracy."""
    threads: int = 1
    min_accuracy: float = 0.9
    """Gate: held-out accuracy (argmax of the masked policy equals the teacher)."""
    min_action_recall: float = 0.5
    """Gate: recall of every action with at least ``min_support`` held-out rows."""
    min_support: int = 50
    """Held-out rows an action needs for its recall to be gated (rare actions such as
    eating decide survival, so a share threshold would let them be ignored)."""
    balance: float = 0.5
    """Class weights of the cross-entropy: (count)^-balance, normalised to mean 1 over
    rows (0 = plain; 1 = inverse frequency). Under option commitment a teacher's
    rare decisions (eat, wash, sleep) are a fraction of a percent of rows."""
    max_majority_share: float = 0.9
    """Gate: the dataset is refused if one action is more than this share of rows."""


def gate_failures(cfg: BCConfig, report: dict[str, Any]) -> list[str]:
    """Why a BC result may not seed PPO (empty: it may)."""
    reasons = []
    if report["distinct_actions"] < 2:
        reasons.append("dataset has fewer than two distinct actions")
    if report["majority_share"] > cfg.max_majority_share:
        reasons.append(f"majority action share {report['majority_share']:.3f} > "
                       f"{cfg.max_majority_share}")
    if report["held_out_accuracy"] < cfg.min_accuracy:
        reasons.append(f"held-out accuracy {report['held_out_accuracy']:.3f} < "
                       f"{cfg.min_accuracy}")
    for name, recall in report["action_recall"].items():
        if recall < cfg.min_action_recall:
            reasons.append(f"held-out recall of {name} {recall:.3f} < {cfg.min_action_recall}")
    return reasons


def _tensors(data, rows) -> dict[str, torch.Tensor]:
    return {"map": torch.from_numpy(data["map"][rows].astype(np.float32)),
            "features": torch.from_numpy(data["features"][rows].astype(np.float32)),
            "mask": torch.from_numpy(data["action_mask"][rows]),
            "actions": torch.from_numpy(data["actions"][rows].astype(np.int64)),
            "returns": torch.from_numpy(data["returns"][rows])}


@torch.inference_mode()
def _evaluate(net: PolicyNet, t: dict[str, torch.Tensor], names,
              min_support: int) -> dict[str, Any]:
    logits, value = net(t["map"], t["features"])
    pred = masked_logits(logits, t["mask"]).argmax(-1)
    y = t["actions"]
    n_actions = len(names)
    confusion = torch.zeros((n_actions, n_actions), dtype=torch.int64)
    confusion.index_put_((y, pred), torch.ones_like(y), accumulate=True)
    support = confusion.sum(1)
    recall = {names[a]: float(confusion[a, a] / support[a]) for a in range(n_actions)
              if support[a] >= min_support}
    ret = t["returns"]
    var = float(ret.var())
    return {"held_out_accuracy": float((pred == y).float().mean()), "action_recall": recall,
            "confusion": confusion.tolist(),
            "value_explained_variance": 1 - float((ret - value).var()) / var if var else 0.0}


def train_bc(town: TownletConfig, dataset_path: str | Path, out_path: str | Path,
             cfg: BCConfig | None = None) -> dict[str, Any]:
    """Train on ``dataset_path``, write the checkpoint to ``out_path``; returns the
    report (losses, held-out accuracy, per-action recall, confusion, gate)."""
    cfg = cfg or BCConfig()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    data = load_dataset(dataset_path)
    meta = data["meta"]
    layout = build_layout(town, meta["variant"])
    if meta["layout_hash"] != layout.layout_hash:
        load_dataset(dataset_path, layout)  # raises the layout mismatch with its message
    names = meta["action_names"]
    episodes = np.unique(data["episode"])
    held = set(rng.choice(episodes, max(1, int(len(episodes) * cfg.held_out)),
                          replace=False).tolist())
    is_held = np.isin(data["episode"], list(held))
    train_t, held_t = _tensors(data, ~is_held), _tensors(data, is_held)
    counts = np.bincount(data["actions"].astype(np.int64), minlength=len(names))
    net = PolicyNet(NetConfig.for_layout(layout, hidden=cfg.hidden))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate,
                           weight_decay=cfg.weight_decay)
    n = len(train_t["actions"])
    freq = np.maximum(np.bincount(train_t["actions"].numpy(), minlength=len(names)), 1)
    weight = freq.astype(np.float64) ** -cfg.balance
    weight /= (weight * freq).sum() / freq.sum()  # mean weight over rows: 1
    class_weight = torch.tensor(weight, dtype=torch.float32)
    losses = []
    for _ in range(cfg.epochs):
        perm = torch.from_numpy(rng.permutation(n))
        total = 0.0
        for s in range(0, n, cfg.batch_size):
            mb = {k: v[perm[s:s + cfg.batch_size]] for k, v in train_t.items()}
            logits, value = net(mb["map"], mb["features"])
            ce = torch.nn.functional.cross_entropy(masked_logits(logits, mb["mask"]),
                                                   mb["actions"], weight=class_weight)
            loss = ce + cfg.value_coef * 0.5 * ((value - mb["returns"]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(mb["actions"])
        losses.append(total / n)
    net.eval()
    probs = counts / counts.sum()
    report: dict[str, Any] = {
        "rows_train": n, "rows_held_out": int(is_held.sum()),
        "trajectories_held_out": len(held), "loss_per_epoch": losses,
        "distinct_actions": int((counts > 0).sum()), "majority_share": float(probs.max()),
        "action_entropy": float(-(probs[probs > 0] * np.log(probs[probs > 0])).sum()),
        "action_counts": {names[a]: int(c) for a, c in enumerate(counts) if c},
        **_evaluate(net, held_t, names, cfg.min_support)}
    reasons = gate_failures(cfg, report)
    report["gate"] = {"passed": not reasons, "reasons": reasons}
    saved = save_checkpoint(out_path, net, layout, config_id=meta["config_id"],
                            optimizer=opt, counters=Counters(updates=cfg.epochs,
                                                             agent_steps=n * cfg.epochs),
                            training={"algo": "bc", "bc": msgspec.to_builtins(cfg),
                                      "dataset": {k: meta[k] for k in (
                                          "config_id", "layout_hash", "teacher", "seed",
                                          "ticks", "stride", "rows")},
                                      "gate": report["gate"],
                                      "held_out_accuracy": report["held_out_accuracy"]})
    report["policy_hash"] = saved.policy_hash
    report["checkpoint"] = str(out_path)
    return report
