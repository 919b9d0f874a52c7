"""The closed economy: a town treasury that pays wages and starter kits and receives
spending, penalties, the estates of the departed and a daily rent.

The treasury is not a separate balance but follows from the ledger flows
(:func:`treasury`), so ``sum(wallets) + treasury == initial + endowment`` holds exactly
whenever the ledger identity (``expected_money``) does: money is neither created nor
destroyed, only moved. Rent keeps the treasury, and so the money held by agents,
stationary: at midnight the town sets one rent per living agent that refills the
treasury to its reserve (``treasury_per_agent`` x agent slots). Each agent pays it in
its first tick of the day, never out of what it needs to go shopping (the price of a
grocery purchase plus the policy's shopping reserve); what the poor cannot pay is not
carried over, the next day's rent covers it.
"""

from __future__ import annotations

from townlet.world.jit import kernel
from townlet.world.policy import SHOP_RESERVE
from townlet.world.state import Econ, Ledger, Price

__all__ = ["pay_rent", "set_rent", "treasury"]


@kernel
def treasury(ledger):
    """The town's balance (minor units; negative while it is in debt)."""
    return (ledger[Ledger.ENDOWMENT] + ledger[Ledger.SPENDING] + ledger[Ledger.PENALTIES]
            + ledger[Ledger.RENT] + ledger[Ledger.DEPARTED] - ledger[Ledger.WAGES]
            - ledger[Ledger.STARTER_KITS])


@kernel
def set_rent(s, p):
    """Midnight: today's rent per living agent, the treasury's gap to its reserve shared
    by the population (0 while the treasury holds its reserve)."""
    gap = p.treasury_target - treasury(s.ledger)
    s.econ[Econ.RENT] = max(0, gap // max(1, s.econ[Econ.POPULATION]))


@kernel
def pay_rent(s, i):
    """Agent i pays today's rent, keeping enough to go shopping."""
    keep = s.price_now[Price.GROCERIES] + SHOP_RESERVE
    paid = min(s.econ[Econ.RENT], max(0, s.agent_wallet[i] - keep))
    s.agent_wallet[i] -= paid
    s.ledger[Ledger.RENT] += paid
