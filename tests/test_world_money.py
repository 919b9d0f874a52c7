"""Money is integer minor units everywhere in the state, so the ledger balances exactly at
any scale and the check stays strict (issue 11 item 25). The long runs of
``test_snapshot_resume.py`` check exact conservation after 30 days at 1k agents and 10
days at 10k agents; here: the representation, a run with price spikes, and a leak."""

from __future__ import annotations

import numpy as np
import pytest
from worlds import small_world

from townlet.config import ConfigError, load_config
from townlet.config.money import MINOR_PER_UNIT, to_minor, to_units
from townlet.sim.summary import EventTally, summarize
from townlet.world.state import FIELDS, expected_money

MONEY = ("agent_wallet", "agent_aff_paid", "agent_wages_today", "agent_withheld",
         "price_base", "price_now", "ledger")


def test_every_money_field_is_int64_minor_units() -> None:
    dtypes = {f.name: f.dtype for f in FIELDS}
    assert all(dtypes[name] == "i8" for name in MONEY)
    assert to_minor(0.006) == 6_000 and to_units(6_000) == 0.006
    assert MINOR_PER_UNIT == 1_000_000


def _run(world, ticks: int):
    tally = EventTally()
    for _ in range(ticks):
        world.step()
        tally.add(world)
    return tally


def test_ledger_balances_exactly_through_price_spikes_and_exits() -> None:
    world = small_world(agents=300, seed=9)
    world.perturb("price_spike", 900, 1.37, target="all")  # fractional prices get rounded
    tally = _run(world, 2 * world.config.world.ticks_per_day)
    ledger = world.view("ledger")
    assert int(world.view("agent_wallet")[world.alive].sum()) == expected_money(ledger)
    assert ledger.dtype == np.int64 and (ledger > 0).sum() >= 4  # wages, spending, ... moved
    summary = summarize(world, tally, world.tick, 1.0, 1.0, False)
    assert summary.money_conserved
    assert summary.money_in_circulation == to_units(int(world.view("agent_wallet")[world.alive]
                                                        .sum()))


def test_a_leak_of_one_minor_unit_is_reported() -> None:
    world = small_world(agents=40, seed=2)
    tally = _run(world, 50)
    assert summarize(world, tally, 50, 1.0, 1.0, False).money_conserved
    leaked = {k: v.copy() for k, v in world.sections().items()}
    leaked["agent_wallet"][int(np.flatnonzero(world.alive)[0])] += 1
    world.load_sections(leaked)
    assert not summarize(world, tally, 50, 1.0, 1.0, False).money_conserved


@pytest.mark.parametrize(("text", "message"), [
    (("world:\n  jobs:\n    - {name: c, workplace: office, start: 540, end: 1020, "
      "wage: 0.0000004}\n"), r"world.jobs\[0\]: wage = 4e-07 is finer than money's smallest"),
    ("world:\n  economy:\n    groceries: 2000000000.0\n",
     r"world.economy: groceries = 2000000000.0 exceeds the largest amount"),
    ("world:\n  lifecycle:\n    starter_wallet: 0.1234567\n", r"world.lifecycle: starter_wallet"),
    ("world:\n  employment:\n    absence_penalty: 0.00000011\n",
     r"world.employment: absence_penalty"),
])
def test_money_finer_than_a_minor_unit_is_refused_at_load(tmp_path, text, message) -> None:
    """An amount the world would have to round (or could overflow) is a config error with
    its key path, not a silent change of the town's economy."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
