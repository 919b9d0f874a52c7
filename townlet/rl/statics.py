"""Config- and town-derived constants the RL kernels read, built once per reset.

``Statics`` is a namedtuple of scalars and small arrays passed as one argument
to the compiled encoders; nothing in it changes while the town runs (objects
never move, jobs and affordances are fixed by the config).
"""

from __future__ import annotations

import collections

import numpy as np

from townlet.config import TownletConfig
from townlet.config.preconds import parse_preconds
from townlet.rl.layout import CHANNEL_INDEX, Layout
from townlet.world.geometry import PERIOD
from townlet.world.state import PRICES
from townlet.world.town import OBJ_NAMES

__all__ = ["Statics", "build_statics"]

Statics = collections.namedtuple("Statics", [
    "ticks_per_day", "blocks_w", "max_slots", "radius", "window", "n_friends", "n_rivals",
    "avoid_threshold", "wallet_scale", "money_scale", "count_scale", "distance_scale",
    "agents_cap", "chan",
    "job_start", "job_end", "job_wage", "aff_duration",
    "type_has_aff", "type_uses_food", "type_uses_stock", "type_price", "type_power",
    "type_water", "price_groceries", "price_cafe", "price_shower",
    "obj_at", "acc_at",
])


def _object_grids(obj_type, obj_x, obj_y, obj_ax, obj_ay, shape):
    """Tile -> object standing there, and tile -> object used from there (-1 none)."""
    obj_at = np.full(shape, -1, dtype=np.int32)
    acc_at = np.full(shape, -1, dtype=np.int32)
    idx = np.flatnonzero(obj_type >= 0).astype(np.int32)
    obj_at[obj_y[idx], obj_x[idx]] = idx
    acc_at[obj_ay[idx], obj_ax[idx]] = idx
    return obj_at, acc_at


def _type_tables(cfg: TownletConfig):
    """Per object type: the first affordance's food/stock/price needs and utilities."""
    n = len(OBJ_NAMES)
    has = np.zeros(n, np.uint8)
    food = np.zeros(n, np.int32)
    stock = np.zeros(n, np.int32)
    price = np.zeros(n, np.int32)
    power = np.zeros(n, np.uint8)
    water = np.zeros(n, np.uint8)
    for aff in cfg.world.affordances:
        t = OBJ_NAMES.index(aff.object_type)
        if has[t]:
            continue
        has[t] = 1
        food[t], stock[t], price[t] = aff.uses_food, aff.uses_stock, PRICES.index(aff.price)
        for var, op, lit in parse_preconds(aff.preconds):
            if var in ("power_on", "water_on") and op == 0 and lit == 1.0:
                (power if var == "power_on" else water)[t] = 1
    return has, food, stock, price, power, water


def build_statics(cfg: TownletConfig, layout: Layout, sections: dict[str, np.ndarray],
                  max_slots: int) -> Statics:
    """Constants for one town: ``sections`` are the world's state arrays by name."""
    obs = cfg.rl.observations
    tile_kind = sections["tile_kind"]
    jobs = cfg.world.jobs
    chan = np.array([CHANNEL_INDEX[c] for c in layout.map_channels], dtype=np.int8)
    obj_at, acc_at = _object_grids(sections["obj_type"], sections["obj_x"], sections["obj_y"],
                                   sections["obj_ax"], sections["obj_ay"], tile_kind.shape)
    has, food, stock, price, power, water = _type_tables(cfg)
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
        chan=chan,
        job_start=np.array([j.start for j in jobs], dtype=np.int64),
        job_end=np.array([j.end for j in jobs], dtype=np.int64),
        job_wage=np.array([j.wage for j in jobs], dtype=np.float64),
        aff_duration=np.array([a.duration for a in cfg.world.affordances], dtype=np.int64),
        type_has_aff=has, type_uses_food=food, type_uses_stock=stock, type_price=price,
        type_power=power, type_water=water,
        price_groceries=PRICES.index("groceries"),
        price_cafe=PRICES.index("cafe_meal"),
        price_shower=PRICES.index("shower"),
        obj_at=obj_at,
        acc_at=acc_at,
    )
