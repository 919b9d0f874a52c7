"""Per-day town figures: needs and their neglect, deaths, money, prices, ties, activity by hour and
synchrony, gathered from the world's public state and events.

``DayRecorder.add`` runs once per tick (after the step) and does a few vectorised
NumPy passes over the agents: a goal comparison every tick, a need/goal census once
per hour and a tie census at the end of each day; never Python per agent. Day ``k``
covers ticks ``k * ticks_per_day + 1 .. (k + 1) * ticks_per_day``; the hour of a tick
is its clock hour (time of day after the tick).
"""

from __future__ import annotations

import numpy as np
from msgspec import Struct

from townlet.config.money import to_units
from townlet.world import World
from townlet.world.actions import Goal
from townlet.world.events import EventCode
from townlet.world.geometry import SLOTS
from townlet.world.params import HOOK_SLEEP, PERMILLE
from townlet.world.state import NEEDS, PRICES, Price, St
from townlet.world.ties import tie_mask

__all__ = ["HOURS", "SHOP_KINDS", "DayFigures", "DayRecorder", "ShopFigures"]

HOURS = 24
GOALS = tuple(g.name.lower() for g in Goal)


SHOP_KINDS = {"grocer": ("district_grocer", Price.GROCERIES, "grocer_stock"),
              "cafe": ("district_cafe", Price.CAFE_MEAL, "cafe_stock")}
"""Each kind of shop: its buildings (a state field), the price it charges and its daily
delivery (an economy setting)."""


class ShopFigures(Struct, frozen=True):
    """Every shop of one kind (one per district) at the end of a day."""

    price_mean: float
    """Mean price the shops charge (the town price x each shop's markup)."""
    price_min: float
    price_max: float
    stock: float
    """Share of their daily delivery the shops hold."""
    empty: int
    """Shops that cannot serve another purchase."""


class DayFigures(Struct, frozen=True):
    """One simulated day (or the covered part of it) of a run."""

    day: int
    """Day index k: ticks k * ticks_per_day + 1 .. (k + 1) * ticks_per_day."""
    ticks: int
    """Ticks of this day the run covered."""
    population: int
    """Living agents at the end of the day."""
    mean_needs: dict[str, float]
    """Mean of each need over living agents, averaged over the day's hour marks."""
    deaths: int
    faints: int
    exits: int
    money_per_capita: float
    """Money held by the living / living agents, at the end of the day."""
    prices: dict[str, float]
    """Town prices in force at the end of the day (before shop markups)."""
    shops: dict[str, ShopFigures]
    """Per kind of shop (SHOP_KINDS): prices charged and stock at the end of the day."""
    sold_out: int
    """Sales that left a shop unable to serve another purchase."""
    rival_ties: int
    """Ties (one per direction) with rivalry at or above relationships.avoid_threshold."""
    friend_ties: int
    """Ties (one per direction) with trust at or above relationships.friendship_threshold."""
    rival_share: float
    """Share of living agents holding at least one tie at or above the avoid threshold."""
    friend_share: float
    """Share of living agents holding at least one friendship tie."""
    activity: dict[str, list[float]]
    """Per goal, for each clock hour 0..23: share of living agents with that goal at the
    hour mark (hours the run did not reach are 0)."""
    max_goal_change: float
    """Largest share of living agents that changed goal on one tick."""
    sleep_onsets: int
    """Agents that started a sleeping affordance."""
    peak_sleep_hour_share: float
    """Share of the day's sleep onsets that fell in its busiest clock hour."""
    collapses: int
    """Agents who fell asleep where they stood (energy at 0 for long; townlet.world.neglect)."""
    unkempt: int
    """Agents who became unkempt (hygiene at 0 for long: shunned for chats)."""
    lonely: int
    """Agents who fell into low mood (social at 0 for long: lower output at work)."""
    soured_chats: int
    """Chat sides that cost trust because the partner was unkempt."""
    low_mood_ticks: int
    """Ticks worked in low mood (paid the low-mood wage: lower output)."""


class DayRecorder:
    """Accumulates :class:`DayFigures` tick by tick for one run."""

    def __init__(self, world: World) -> None:
        p = world.params
        self.day_len, self.hour_len = p.day, max(1, p.day // HOURS)
        sleeping = (p.aff_hooks & HOOK_SLEEP) != 0
        self.sleep_type = np.zeros(max(1, p.type_aff.size), dtype=bool)
        for otype, aff in enumerate(p.type_aff):
            self.sleep_type[otype] = aff >= 0 and bool(sleeping[aff])
        self.days: list[DayFigures] = []
        economy = world.config.world.economy
        self._delivery = {kind: getattr(economy, setting)
                          for kind, (_, _, setting) in SHOP_KINDS.items()}
        self._prev_goal = world.view("agent_goal").copy()
        self._prev_alive = world.alive.copy()
        self._stats = world.view("stats").copy()
        self._day = -1  # none open yet

    def _open(self, day: int) -> None:
        self._day, self._ticks, self._max_change = day, 0, 0.0
        self._needs_sum = np.zeros(len(NEEDS))
        self._samples = 0
        self._activity = np.zeros((len(GOALS), HOURS))
        self._onsets = np.zeros(HOURS, dtype=np.int64)
        self._stats_open = self._stats.copy()

    def add(self, world: World) -> None:
        """Record the tick the world just made."""
        t = world.tick
        day, tod = (t - 1) // self.day_len, t % self.day_len
        hour = min(HOURS - 1, tod // self.hour_len)
        if self._day < 0:
            self._open(day)
        elif day != self._day:
            self.days.append(self._close(world))
            self._open(day)
        self._ticks += 1
        alive = world.alive
        goal = world.view("agent_goal")
        living = int(alive.sum())
        if living:
            changed = int(np.count_nonzero((goal != self._prev_goal) & alive & self._prev_alive))
            self._max_change = max(self._max_change, changed / living)
        self._prev_goal[:] = goal
        self._prev_alive[:] = alive
        self._stats[:] = world.view("stats")
        n = int(world.view("evt_len")[0])
        if n:
            codes = world.view("evt_code")[:n]
            objs = world.view("evt_obj")[:n][codes == EventCode.AFFORDANCE_START]
            if objs.size:
                types = world.view("obj_type")[objs]
                self._onsets[hour] += int(np.count_nonzero(self.sleep_type[types[types >= 0]]))
        if tod % self.hour_len == 0 and living:
            self._needs_sum += world.view("agent_needs")[alive].mean(axis=0)
            self._samples += 1
            counts = np.bincount(goal[alive], minlength=len(GOALS))[:len(GOALS)]
            self._activity[:, hour] = counts / living

    def finish(self, world: World) -> list[DayFigures]:
        """Every day so far, the current (possibly partial) one included."""
        if self._day < 0:
            return list(self.days)
        return [*self.days, self._close(world)]

    def _shops(self, world: World, kind: str) -> ShopFigures:
        """The shops of ``kind`` now: prices (exactly as the kernel rounds them), stock."""
        field, price, _ = SHOP_KINDS[kind]
        shops = world.view(field)
        charged = (int(world.view("price_now")[price]) * world.view("shop_markup")[shops]
                   .astype(np.int64) + PERMILLE // 2) // PERMILLE
        objs = shops[:, None] * SLOTS + np.arange(SLOTS)
        stock = np.where(world.view("obj_type")[objs] >= 0, world.view("obj_stock")[objs], 0)
        aff = world.params.type_aff[world.view("obj_type")[objs[0, 0]]]
        need = max(1, int(world.params.aff_uses_stock[aff]))
        delivered = self._delivery[kind] * shops.size
        return ShopFigures(
            price_mean=round(float(to_units(charged).mean()), 6),
            price_min=float(to_units(int(charged.min()))),
            price_max=float(to_units(int(charged.max()))),
            stock=round(float(stock.sum()) / delivered, 4) if delivered else 0.0,
            empty=int((stock.max(axis=1) < need).sum()))

    def _close(self, world: World) -> DayFigures:
        assert self._day is not None  # a day is open (finish() and the day change check)
        alive = world.alive
        living = int(alive.sum())
        delta = self._stats - self._stats_open
        wallets = int(world.view("agent_wallet")[alive].sum())
        rel = world.config.world.relationships
        rivals = tie_mask(world.view, rel, "rival")[alive]
        friends = tie_mask(world.view, rel, "friend")[alive]
        onsets = int(self._onsets.sum())
        share = (lambda k: round(float(k) / living, 5)) if living else (lambda k: 0.0)
        mean = self._needs_sum / max(1, self._samples)
        return DayFigures(
            day=self._day, ticks=self._ticks, population=living,
            mean_needs={name: round(float(v), 4) for name, v in zip(NEEDS, mean)},
            deaths=int(delta[St.DEATHS]), faints=int(delta[St.FAINTS]),
            exits=int(delta[St.EXITS]),
            money_per_capita=round(to_units(wallets) / living, 4) if living else 0.0,
            prices={name: to_units(int(v)) for name, v in
                    zip(PRICES[1:], world.view("price_now")[1:])},
            shops={kind: self._shops(world, kind) for kind in SHOP_KINDS},
            sold_out=int(delta[St.SOLD_OUT]),
            rival_ties=int(rivals.sum()), friend_ties=int(friends.sum()),
            rival_share=share(rivals.any(axis=1).sum()),
            friend_share=share(friends.any(axis=1).sum()),
            activity={g: [round(float(v), 4) for v in row]
                      for g, row in zip(GOALS, self._activity)},
            max_goal_change=round(self._max_change, 5), sleep_onsets=onsets,
            peak_sleep_hour_share=round(float(self._onsets.max()) / onsets, 5)
            if onsets else 0.0,
            collapses=int(delta[St.COLLAPSES]), unkempt=int(delta[St.UNKEMPT]),
            lonely=int(delta[St.LONELY]), soured_chats=int(delta[St.SOURED_CHATS]),
            low_mood_ticks=int(delta[St.LOW_MOOD_TICKS]))
