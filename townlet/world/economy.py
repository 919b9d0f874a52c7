"""The closed economy: a town treasury that pays wages and starter kits and receives
spending, penalties, the estates of the departed and a daily rent.

The treasury is not a separate balance but follows from the ledger flows
(:func:`treasury`), so ``sum(wallets) + treasury == initial + endowment`` holds exactly
whenever the ledger identity (``expected_money``) does: money is neither created nor
destroyed, only moved. Rent keeps the treasury, and so the money held by agents,
stationary: at midnight the town asks for the treasury's gap to its reserve
(``treasury_per_agent`` x agent slots) and shares it out in proportion to savings, an
agent's money beyond what it needs to eat until payday (:data:`DAYS_FOOD` grocery
purchases at the highest shop markup plus the policy's shopping reserve). The savings are summed in the last tick
of the day (O(1) per agent), so the shares add up to the gap and the treasury is back at
its reserve after midnight; an agent without savings pays nothing.
"""

from __future__ import annotations

import numpy as np

from townlet.world.jit import kernel
from townlet.world.params import PERMILLE
from townlet.world.policy import SHOP_RESERVE
from townlet.world.state import Econ, Ledger, Price

__all__ = ["DAYS_FOOD", "pay_rent", "savings", "set_rent", "treasury"]

DAYS_FOOD = 2
"""Grocery purchases rent never takes: an agent keeps the money for this many (plus the
policy's shopping reserve), so paying rent cannot leave it unable to eat until payday."""


@kernel
def savings(s, p, i):
    """Agent i's money beyond what it keeps to eat until payday, at the dearest a grocer
    may charge the base price (minor units, >= 0). The base, not the price in force: a
    price spike active at midnight would otherwise shield most savings from the rent and
    leave the treasury's gap, and the money agents hold, off for a day."""
    dearest = (s.price_base[Price.GROCERIES] * p.markup_hi + PERMILLE // 2) // PERMILLE
    return max(0, s.agent_wallet[i] - DAYS_FOOD * dearest - SHOP_RESERVE)


@kernel
def treasury(ledger):
    """The town's balance (minor units; negative while it is in debt)."""
    return (ledger[Ledger.ENDOWMENT] + ledger[Ledger.SPENDING] + ledger[Ledger.PENALTIES]
            + ledger[Ledger.RENT] + ledger[Ledger.DEPARTED] - ledger[Ledger.WAGES]
            - ledger[Ledger.STARTER_KITS])


@kernel
def set_rent(s, p):
    """Midnight: what today's rent must raise, the treasury's gap to its reserve (0 while
    it holds the reserve)."""
    s.econ[Econ.DUE] = max(0, p.treasury_target - treasury(s.ledger))


@kernel
def pay_rent(s, p, i):
    """Agent i pays its share of today's rent: its savings x due / the town's savings."""
    total, own = s.econ[Econ.SAVINGS], savings(s, p, i)
    if total <= 0 or own <= 0:
        return
    paid = min(own, np.int64(own * min(1.0, s.econ[Econ.DUE] / total)))
    s.agent_wallet[i] -= paid
    s.ledger[Ledger.RENT] += paid
