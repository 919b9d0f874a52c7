"""Config- and town-derived constants the RL kernels read, built once per reset.

``Statics`` is a namedtuple of scalars and small arrays passed as one argument
to the compiled encoders; nothing in it changes while the town runs (objects
never move, jobs and affordances are fixed by the config). Affordance and job
tables are the world kernel's own (``KernelParams``, passed to the kernels
separately: a struct inside the tuple would make every call slow to dispatch),
so masks and the ``unusable`` channel apply exactly the rules the world applies.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

import numpy as np

from townlet.config import TownletConfig
from townlet.rl.layout import Layout
from townlet.rl.window import build_map_statics
from townlet.world.actions import A
from townlet.world.geometry import PERIOD, WALKABLE
from townlet.world.kernel import DX, DY

__all__ = ["Statics", "build_statics"]

Statics = collections.namedtuple("Statics", [
    "ticks_per_day", "blocks_w", "max_slots", "radius", "window", "n_friends", "n_rivals",
    "avoid_threshold", "wallet_scale", "money_scale", "count_scale", "distance_scale",
    "agents_cap", "o_affordance", "o_landmarks", "o_summary", "o_social", "acc_at",
    "moves", "map",
])
"""``o_*``: where each feature block starts (``Layout.blocks``); ``map``: the
egocentric map's grids (``townlet.rl.window.MapStatics``)."""


def _move_bits(tile_kind: np.ndarray) -> np.ndarray:
    """Per tile: bit k set when move action ``A.MOVE_N + k`` leads onto a walkable
    tile (the world kernel's own step table ``DX``/``DY``)."""
    h, w = tile_kind.shape
    walk = np.pad(np.isin(tile_kind, WALKABLE), 1)  # off the grid: not walkable
    bits = np.zeros(tile_kind.shape, np.uint8)
    for k, a in enumerate(range(A.MOVE_N, A.MOVE_W + 1)):
        dx, dy = DX[a], DY[a]
        bits |= walk[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] * np.uint8(1 << k)
    return bits


def _access_grid(obj_type, obj_ax, obj_ay, shape):
    """Tile -> object used from there (its access tile), -1 for none."""
    acc_at = np.full(shape, -1, dtype=np.int32)
    idx = np.flatnonzero(obj_type >= 0).astype(np.int32)
    acc_at[obj_ay[idx], obj_ax[idx]] = idx
    return acc_at


def build_statics(cfg: TownletConfig, layout: Layout, sections: Mapping[str, np.ndarray],
                  max_slots: int) -> Statics:
    """Constants for one town: ``sections`` are the world's state arrays by name."""
    obs = cfg.rl.observations
    tile_kind = sections["tile_kind"]
    acc_at = _access_grid(sections["obj_type"], sections["obj_ax"], sections["obj_ay"],
                          tile_kind.shape)
    return Statics(
        ticks_per_day=cfg.world.ticks_per_day,
        blocks_w=(tile_kind.shape[1] - 1) // PERIOD,
        max_slots=max_slots,
        radius=layout.window // 2,
        window=layout.window,
        n_friends=obs.top_friends,
        n_rivals=obs.top_rivals,
        avoid_threshold=cfg.world.relationships.avoid_threshold,
        wallet_scale=obs.wallet_scale,
        money_scale=obs.money_scale,
        count_scale=obs.count_scale,
        distance_scale=obs.distance_scale,
        agents_cap=obs.agents_per_tile,
        o_affordance=layout.blocks["affordance"][0],
        o_landmarks=layout.blocks["landmarks"][0],
        o_summary=layout.blocks["summary"][0],
        o_social=layout.blocks["social"][0],
        acc_at=acc_at,
        moves=_move_bits(tile_kind),
        map=build_map_statics(layout.map_channels, layout.window, obs.agents_per_tile,
                              tile_kind, sections["obj_type"], sections["obj_x"],
                              sections["obj_y"]),
    )
