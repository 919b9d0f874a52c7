"""Shops (issue 18): stock runs out under demand and agents go to the next district's
shop, the daily delivery restocks it, and prices follow stock and demand within their
bounds while money stays exact."""

from __future__ import annotations

import numpy as np
from worlds import small_world

from townlet.world.economy import treasury
from townlet.world.events import EventCode
from townlet.world.geometry import SLOTS
from townlet.world.state import Ledger, Price, St, expected_money

DAY = 1440


def _shop_objects(world, b):
    objs = np.arange(b * SLOTS, (b + 1) * SLOTS)
    return objs[world.view("obj_type")[objs] >= 0]


def _markup_reference(world, b) -> int:
    """A shop's markup from the rule in docs/world.md, written out plainly."""
    p = world.params
    full = p.grocer_stock if b in world.view("district_grocer") else p.cafe_stock
    stock = int(world.view("obj_stock")[_shop_objects(world, b)].sum())
    scarcity = p.scarcity * max(0, full - stock) // full if full else 0
    return min(p.markup_hi, max(p.markup_lo, int(world.view("shop_level")[b]) + scarcity))


def test_a_sold_out_shop_sends_buyers_next_door_until_the_delivery() -> None:
    world = small_world(agents=300, seed=2)
    p = world.params
    while world.tick % DAY != p.restock_at + 1:  # just after the morning delivery
        world.step()
    grocer, cafe = (world.view(f)[:2] for f in ("district_grocer", "district_cafe"))
    sections = world.sections()
    for b in (grocer[0], cafe[0]):  # district 0's shops are sold out
        sections["obj_stock"][_shop_objects(world, b)] = 0
    home0 = world.view("agent_district") == 0
    sections["agent_food"][home0] = 0  # and its residents have nothing at home
    world.load_sections(sections)
    district_of = world.view("bld_district")
    bought_next_door = bought_here = 0
    for _ in range(DAY - 2):  # until just before the next delivery
        world.step()
        ev = world.events()
        starts = ev[ev["code"] == EventCode.AFFORDANCE_START]
        bld = starts["obj"] // SLOTS
        shop = np.isin(bld, (grocer[0], cafe[0], grocer[1], cafe[1]))
        buyer_home0 = world.view("agent_district")[starts["agent"]] == 0
        bought_here += int((shop & (district_of[bld] == 0)).sum())
        bought_next_door += int((shop & buyer_home0 & (district_of[bld] == 1)).sum())
        assert int(world.view("agent_wallet")[world.alive].sum()) == expected_money(
            world.view("ledger"))
    assert bought_here == 0, "nothing to sell: nobody buys in district 0"
    assert bought_next_door >= 20, "district 0 eats and shops next door"
    assert int(world.view("agent_food")[home0 & world.alive].max()) > 0
    world.step()  # the delivery
    assert world.tick % DAY == p.restock_at
    ev = world.events()
    delivered = dict(zip(ev["obj"][ev["code"] == EventCode.STOCK_REPLENISH].tolist(),
                         ev["value"][ev["code"] == EventCode.STOCK_REPLENISH].tolist()))
    for b, full in ((grocer[0], p.grocer_stock), (cafe[0], p.cafe_stock)):
        n = _shop_objects(world, b).size
        assert delivered[int(b)] == full // n * n, "restocked from empty"
    sold_again = 0
    for _ in range(DAY // 2):
        world.step()
        ev = world.events()
        starts = ev[ev["code"] == EventCode.AFFORDANCE_START]
        sold_again += int(np.isin(starts["obj"] // SLOTS, (grocer[0], cafe[0])).sum())
    assert sold_again > 0, "district 0's shops sell again after the delivery"


def test_prices_follow_stock_and_demand_within_bounds() -> None:
    # the cafe is cheap enough to sell out every day; the grocer has far more than needed
    world = small_world(agents=300, seed=1, economy__cafe_meal=0.05, economy__cafe_stock=9,
                        economy__grocer_stock=2400)
    p = world.params
    shops = np.concatenate([world.view("district_grocer"), world.view("district_cafe")])
    grocers, cafes = world.view("district_grocer"), world.view("district_cafe")
    assert (world.view("shop_markup")[shops] == 1000).all(), "a new town charges town prices"
    led = world.view("ledger")
    total = int(led[Ledger.INITIAL] + led[Ledger.ENDOWMENT])
    rose = fell = 0
    prev = world.view("shop_markup")[shops].copy()
    prev_stock = world.view("obj_stock").copy()
    for _ in range(4 * DAY):
        world.step()
        markup = world.view("shop_markup")
        assert ((markup[shops] >= p.markup_lo) & (markup[shops] <= p.markup_hi)).all()
        for b in shops:  # the markup is the rule's, at every tick
            assert int(markup[b]) == _markup_reference(world, b), (world.tick, b)
        stock = world.view("obj_stock")
        sold = [int((stock[_shop_objects(world, b)] < prev_stock[_shop_objects(world, b)]).any())
                for b in shops]
        rose += int(((markup[shops] > prev) & np.array(sold, bool)).sum())
        fell += int((markup[shops] < prev).sum())
        prev, prev_stock = markup[shops].copy(), stock.copy()
        charged = (int(world.view("price_now")[Price.GROCERIES]) * markup[grocers] + 500) // 1000
        assert (charged >= world.view("price_now")[Price.GROCERIES] * p.markup_lo // 1000).all()
        wallets = int(world.view("agent_wallet")[world.alive].sum())
        assert wallets == expected_money(led) and wallets + treasury(led) == total
    assert rose > 0 and fell > 0, "prices rise as shelves empty and fall at deliveries"
    assert int(world.view("stats")[St.SOLD_OUT]) > 0, "the cheap cafes sell out"
    level = world.view("shop_level")
    assert (level[cafes] > 1000).all(), "sold-out cafes raise their demand level"
    assert (level[grocers] < 1000).all(), "grocers selling little lower theirs"
