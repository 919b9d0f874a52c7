"""Shops: stock that runs out and is restocked daily, and prices that react to stock
and demand.

Every grocer and cafe holds stock on its objects (tills, counters); suppliers refill
each shop to its delivery (``economy.grocer_stock`` / ``cafe_stock``, shared equally
by its objects) at ``economy.restock_at``. A shop charges the town price
(``price_now``) times its markup, an integer in permille (``shop_markup``, 1000 for
every other building), so each price is a whole number of minor units and money stays
exact. The markup is the shop's demand level plus ``scarcity`` times the share of its
delivery already sold, within the markup bounds; it is recomputed whenever the shop's
stock changes (a sale, a refund, a delivery), which costs one pass over the shop's
SLOTS objects. At each delivery the demand level is set from the last day's demand:
1000 + ``demand_markup`` x (2 x the share of the last delivery sold - 1), so a shop that
sold everything charges ``demand_markup`` more, one that sold nothing that much less,
one that sold half the town price (within the same bounds; yesterday's demand sets
today's level, so a steady demand gives a steady price).
"""

from __future__ import annotations

from townlet.world.ahead import guard_in
from townlet.world.events import EventCode, emit
from townlet.world.geometry import SLOTS
from townlet.world.jit import inline_kernel, kernel
from townlet.world.params import PERMILLE
from townlet.world.state import Group, St
from townlet.world.town import BLD

__all__ = ["marked_up", "on_stock_change", "price_at", "restock", "shop_stock"]


@inline_kernel
def marked_up(s, k, b):
    """Price ``k`` (a PRICES index) at building b: the town price x b's markup, rounded
    to whole minor units."""
    return (s.price_now[k] * s.shop_markup[b] + PERMILLE // 2) // PERMILLE


@inline_kernel
def price_at(s, p, a, o):
    """What affordance ``a`` costs on object o (minor units)."""
    return marked_up(s, p.aff_price[a], o // SLOTS)


@kernel
def _delivery(s, p, b):
    """Units shop b holds after a delivery (0 for buildings that are not shops)."""
    kind = s.bld_kind[b]
    if kind == BLD.GROCER:
        return p.grocer_stock
    if kind == BLD.CAFE:
        return p.cafe_stock
    return 0


@kernel
def shop_stock(s, b):
    """(units on shop b's objects, most units on any one of them)."""
    total = most = 0
    for o in range(b * SLOTS, b * SLOTS + SLOTS):
        if s.obj_type[o] >= 0:
            total += s.obj_stock[o]
            most = max(most, s.obj_stock[o])
    return total, most


@kernel
def _bounded(p, permille):
    """``permille`` held within the markup bounds."""
    return min(p.markup_hi, max(p.markup_lo, permille))


@kernel
def _reprice(s, p, b, stock):
    """Shop b's markup from its demand level and the share of its delivery sold."""
    full = _delivery(s, p, b)
    sold = max(0, full - stock)
    scarcity = p.scarcity * sold // full if full > 0 else 0
    guard_in(s, Group.SHOPS, b)
    s.shop_markup[b] = _bounded(p, s.shop_level[b] + scarcity)


@kernel
def on_stock_change(s, p, o, units):
    """Object o's stock just changed by ``units`` (a sale is negative): reprice its shop,
    and count a sell-out when a sale leaves no object able to serve ``-units`` more."""
    b = o // SLOTS
    stock, most = shop_stock(s, b)
    _reprice(s, p, b, stock)
    if units < 0 and most < -units:
        s.stats[St.SOLD_OUT] += 1


@kernel
def _deliver(s, p, b, demand):
    """Refill shop b to its delivery (an equal share per object); with ``demand``, set
    its demand level from what it sold since the last delivery first."""
    full = _delivery(s, p, b)
    n = 0
    for o in range(b * SLOTS, b * SLOTS + SLOTS):
        n += s.obj_type[o] >= 0
    stock, _ = shop_stock(s, b)
    if demand and full > 0:
        sold = max(0, full - stock)
        guard_in(s, Group.SHOPS, b)
        s.shop_level[b] = _bounded(p, PERMILLE + p.demand_markup * (2 * sold - full) // full)
    delivered = 0
    for o in range(b * SLOTS, b * SLOTS + SLOTS):
        if s.obj_type[o] >= 0 and s.obj_stock[o] < full // n:
            delivered += full // n - s.obj_stock[o]
            guard_in(s, Group.OBJECTS, o)
            s.obj_stock[o] = full // n
    emit(s, EventCode.STOCK_REPLENISH, -1, -1, b, delivered)
    stock, _ = shop_stock(s, b)
    _reprice(s, p, b, stock)


@kernel
def restock(s, p, demand):
    """The daily delivery from suppliers to every grocer and cafe (``demand``: False for
    the first stocking of a new town, which says nothing about demand)."""
    for d in range(s.district_grocer.shape[0]):
        _deliver(s, p, s.district_grocer[d], demand)
        _deliver(s, p, s.district_cafe[d], demand)
