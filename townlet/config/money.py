"""Money in integer minor units: exact at any scale.

Every amount of money the world keeps -- wallets, prices, wages, penalties, refunds, the
ledger -- is an ``int64`` count of minor units, :data:`MINOR_PER_UNIT` to one unit of money
(the unit the config, the console and reports use). Integer sums are exact, so the
ledger identity ``sum(wallets) == expected_money(ledger)`` holds with exact equality at
any number of agents and ticks. Amounts cross into or out of units here only; events and
reports carry units.

Snapshots store minor units: changing :data:`MINOR_PER_UNIT` changes the snapshot schema
(``townlet.snapshots.migration_steps``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_AMOUNT", "MINOR_PER_UNIT", "check_amounts", "to_minor", "to_units"]

MINOR_PER_UNIT = 1_000_000
"""Minor units per unit of money (micro-units: the default wage of 0.006/tick is 6,000)."""
MAX_AMOUNT = 1e9
"""Largest configurable amount in units (1e15 minor units: exact in a float, and a town's
total stays far inside int64)."""


def check_amounts(section: object, names: tuple[str, ...]) -> None:
    """Raise ValueError (from a config struct's ``__post_init__``) when one of the money
    fields ``names`` of ``section`` is finer than a minor unit (it would be rounded) or
    larger than :data:`MAX_AMOUNT`."""
    for name in names:
        amount = float(getattr(section, name))
        if amount > MAX_AMOUNT:
            raise ValueError(f"{name} = {amount!r} exceeds the largest amount {MAX_AMOUNT:g}")
        scaled = amount * MINOR_PER_UNIT
        if abs(scaled - round(scaled)) > 1e-6:
            raise ValueError(f"{name} = {getattr(section, name)!r} is finer than money's "
                             f"smallest unit (1/{MINOR_PER_UNIT:,})")


def to_minor(amount: float) -> int:
    """A config amount in units as minor units (rounded to the nearest)."""
    return round(float(amount) * MINOR_PER_UNIT)


def to_units(minor):
    """Minor units (an int or an integer array) as float units, for display and reports."""
    if isinstance(minor, np.ndarray):
        return minor / MINOR_PER_UNIT
    return int(minor) / MINOR_PER_UNIT
