"""Scripted trajectories for behaviour cloning: record them, store them, load them.

A dataset is one ``.npz`` file (loaded with ``allow_pickle=False``: no code can
hide in it) of column arrays, one row per recorded policy transition:

| column | dtype, shape | meaning |
| --- | --- | --- |
| ``map`` | float16 (M, C, W, W) | observation map (values in [0, 1]) |
| ``features`` | float16 (M, F) | observation features (values in [-1, 1]) |
| ``action_mask`` | bool (M, A) | allowed actions |
| ``actions`` | int8 (M,) | the teacher's action |
| ``rewards`` | float32 (M,) | reward of the transition |
| ``returns`` | float32 (M,) | discounted return-to-go within the episode (``gamma``) |
| ``terminated``, ``truncated`` | bool (M,) | episode ends |
| ``slot``, ``tick`` | int32 (M,) | agent slot and tick of the observation |
| ``episode`` | int64 (M,) | trajectory id (slot x 2^32 + the slot's episode index) |
| ``meta`` | str () | JSON: format, config_id, variant, layout_hash, feature_names, map_channels, action_names, action_space_hash, teacher, seed, ticks, stride, gamma, agents |

Rows are the decisions (``infos["decide"]``: not ticks inside a committed
option, whose only allowed action is ``WAIT``) of every acting agent on every
``stride``-th tick; ``returns`` are computed on the full stream before striding. Observations are stored as float16 (BC needs
no more precision; it halves the file).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from townlet.config import TownletConfig, config_id
from townlet.rl import TownletVectorEnv
from townlet.rl.baselines import ScriptedPolicy
from townlet.rl.layout import ACTION_NAMES, Layout, action_space_hash

__all__ = ["DATASET_FORMAT", "Dataset", "DatasetError", "load_dataset", "record"]

DATASET_FORMAT = "townlet-bc-1"


class DatasetError(ValueError):
    """A dataset that cannot be used: unreadable, another format, layout or action space."""


Dataset = dict[str, Any]
"""Column name -> array, plus ``meta`` (a dict)."""


def _returns_to_go(rewards, terminated, truncated, acted, gamma):
    """Discounted sum of later rewards of the same episode, per (T, N) cell."""
    out = np.zeros(rewards.shape, np.float32)
    running = np.zeros(rewards.shape[1], np.float64)
    for t in range(rewards.shape[0] - 1, -1, -1):
        ends = terminated[t] | truncated[t]
        running = np.where(acted[t], rewards[t] + gamma * running * ~ends, 0.0)
        out[t] = running
    return out


def record(town: TownletConfig, path: str | os.PathLike, *, variant: str = "compact",
           ticks: int = 2880, stride: int = 4, seed: int = 0, gamma: float = 0.99) -> dict:
    """Run the scripted teacher (``env.scripted_actions()``) for ``ticks`` and write
    the dataset to ``path`` atomically; returns its metadata."""
    env = TownletVectorEnv(town, variant=variant)
    obs, infos = env.reset(seed=seed)
    teacher = ScriptedPolicy(env, seed)
    n, keep = env.num_envs, range(0, ticks, stride)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "map", "features", "action_mask", "actions", "slot", "tick", "episode")}
    rewards = np.zeros((ticks, n), np.float32)
    term, trunc, acted = (np.zeros((ticks, n), np.bool_) for _ in range(3))
    rows = []
    for t in range(ticks):
        actions = teacher(obs, infos["action_mask"])
        decides = infos["decide"].copy()
        if t % stride == 0:
            episode = (np.arange(n, dtype=np.int64) << 32) + infos["episode_index"]
            cols["map"].append(obs["map"].astype(np.float16))
            cols["features"].append(obs["features"].astype(np.float16))
            cols["action_mask"].append(infos["action_mask"].copy())
            cols["actions"].append(actions.astype(np.int8))
            cols["slot"].append(np.arange(n, dtype=np.int32))
            cols["tick"].append(np.full(n, t, np.int32))
            cols["episode"].append(episode)
        obs, rewards[t], term[t], trunc[t], infos = env.step(actions)
        acted[t] = infos["acted"]
        if t % stride == 0:
            rows.append(acted[t] & decides)
    ret = _returns_to_go(rewards, term, trunc, acted, gamma)
    sel = np.concatenate(rows)
    data = {k: np.concatenate(v)[sel] for k, v in cols.items()}
    data["rewards"] = rewards[list(keep)].reshape(-1)[sel]
    data["returns"] = ret[list(keep)].reshape(-1)[sel]
    data["terminated"] = term[list(keep)].reshape(-1)[sel]
    data["truncated"] = trunc[list(keep)].reshape(-1)[sel]
    lay = env.layout
    meta = {"format": DATASET_FORMAT, "config_id": config_id(town), "variant": lay.variant,
            "layout_hash": lay.layout_hash, "feature_names": list(lay.feature_names),
            "map_channels": list(lay.map_channels), "action_names": list(ACTION_NAMES),
            "action_space_hash": action_space_hash(), "teacher": "scripted", "seed": seed,
            "ticks": ticks, "stride": stride, "gamma": gamma, "agents": n,
            "rows": int(sel.sum())}
    data["meta"] = np.array(json.dumps(meta))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return meta


def load_dataset(path: str | os.PathLike, layout: Layout | None = None) -> Dataset:
    """Load a dataset (no pickles); refuse another format, action space or, given
    ``layout``, another observation layout."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data: Dataset = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable dataset ({exc})") from exc
    try:
        meta = json.loads(str(data.pop("meta")))
    except (KeyError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: no dataset metadata") from exc
    if meta.get("format") != DATASET_FORMAT:
        raise DatasetError(f"{path}: format {meta.get('format')!r}, expected {DATASET_FORMAT!r}")
    if meta["action_space_hash"] != action_space_hash():
        raise DatasetError(f"{path}: recorded for actions {meta['action_names']}, this build "
                           f"has {list(ACTION_NAMES)}")
    if layout is not None and meta["layout_hash"] != layout.layout_hash:
        raise DatasetError(f"{path}: recorded with observation layout {meta['variant']}/"
                           f"{meta['layout_hash'][:12]}, expected {layout.variant}/"
                           f"{layout.layout_hash[:12]}; record again with this config and "
                           f"--variant {layout.variant}")
    data["meta"] = meta
    return data
