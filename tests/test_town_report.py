"""Town reports: the per-day figures of ``townlet report`` and ``townlet run --json``
agree with the same figures computed independently from the world's state and events."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.worlds import small_world
from townlet.config.money import MINOR_PER_UNIT
from townlet.sim.days import HOURS, DayRecorder
from townlet.world.actions import Goal
from townlet.world.events import EventCode
from townlet.world.state import Need, St
from townlet.world.town import OBJ

DAY = 1440


class _Independent:
    """Per-day figures counted the plain way, from events and arrays."""

    def __init__(self, world):
        self.days: dict[int, dict] = {}
        self.prev_goal = world.view("agent_goal").copy()
        self.prev_alive = world.alive.copy()
        self.prev_wages = world.view("agent_wages_today").copy()

    def add(self, world):
        t = world.tick
        d = self.days.setdefault((t - 1) // DAY, {"deaths": 0, "faints": 0, "exits": 0,
                                                  "onsets": np.zeros(HOURS, int), "change": 0.0,
                                                  "sleep_share": {}, "collapses": 0,
                                                  "unkempt": 0, "lonely": 0, "soured": 0,
                                                  "low_mood": 0})
        ev = world.events()
        neglected = ev["value"][ev["code"] == EventCode.NEED_NEGLECTED]
        d["collapses"] += int((ev["code"] == EventCode.AGENT_COLLAPSED).sum())
        d["unkempt"] += int((neglected == Need.HYGIENE).sum())
        d["lonely"] += int((neglected == Need.SOCIAL).sum())
        d["soured"] += int((ev["code"] == EventCode.CHAT_SOURED).sum())
        wages = world.view("agent_wages_today")
        low = world.params.job_wage_low_mood[world.view("agent_job")]
        d["low_mood"] += int(((wages - self.prev_wages == low) & world.alive).sum())
        self.prev_wages = wages.copy()
        d["deaths"] += int((ev["code"] == EventCode.AGENT_DIED).sum())
        d["faints"] += int((ev["code"] == EventCode.AGENT_FAINTED).sum())
        d["exits"] += int((ev["code"] == EventCode.EXIT_PROCESSED).sum())
        types = world.view("obj_type")
        hour = (t % DAY) // (DAY // HOURS)
        for e in ev[ev["code"] == EventCode.AFFORDANCE_START]:
            d["onsets"][hour] += int(types[e["obj"]] == OBJ.BED)
        alive, goal = world.alive, world.view("agent_goal")
        both = alive & self.prev_alive
        d["change"] = max(d["change"], (goal != self.prev_goal)[both].sum() / alive.sum())
        self.prev_goal, self.prev_alive = goal.copy(), alive.copy()
        if t % (DAY // HOURS) == 0:
            d["sleep_share"][hour] = float((goal[alive] == Goal.SLEEP).mean())
        if t % DAY == 0:  # the day's last tick: end-of-day state
            wallets = world.view("agent_wallet")[alive]
            riv = world.view("rel_riv")[alive] >= np.float32(world.params.avoid)
            held = world.view("rel_other")[alive] >= 0
            d["money"] = wallets.sum() / MINOR_PER_UNIT / alive.sum()
            d["prices"] = world.view("price_now")[1:] / MINOR_PER_UNIT
            d["rival_ties"] = int((riv & held).sum())
            d["rival_share"] = float((riv & held).any(axis=1).mean())
            d["population"] = int(alive.sum())
            d["shops"] = {kind: _shops_plainly(world, field, price, full) for kind, field, price,
                          full in (("grocer", "district_grocer", 1, world.params.grocer_stock),
                                   ("cafe", "district_cafe", 2, world.params.cafe_stock))}
        d["sold_out"] = int(world.view("stats")[St.SOLD_OUT])


def _shops_plainly(world, field, price, full):
    """(prices charged, share of the deliveries on the shelves, empty shops), shop by shop."""
    charged, stock, empty = [], 0, 0
    for b in world.view(field).tolist():
        markup = int(world.view("shop_markup")[b])
        charged.append((int(world.view("price_now")[price]) * markup + 500) // 1000)
        units = [int(world.view("obj_stock")[o]) for o in range(b * 9, b * 9 + 9)
                 if world.view("obj_type")[o] >= 0]
        stock += sum(units)
        empty += max(units) < world.params.aff_uses_stock[
            world.params.type_aff[world.view("obj_type")[b * 9]]]
    return charged, stock / (full * len(charged)), empty


def test_day_figures_match_the_world_counted_independently():
    world = small_world(agents=60, seed=3, neglect__exhausted_after=5,
                        neglect__unkempt_after=5, neglect__lonely_after=5)
    rec, plain = DayRecorder(world), _Independent(world)
    world.sections()["rel_riv"][:, :] = 0.0
    for t in range(2 * DAY):
        if t < 400 and world.alive[0]:
            world.set_need(0, "hunger", 0.0)  # one agent starves: faints, then dies
        if t < 1000:  # others neglect a need: exhausted, unkempt, lonely at work
            world.set_need(1, "energy", 0.0)
            world.set_need(2, "hygiene", 0.0)
            world.set_need(3, "social", 0.0)
        world.step()
        rec.add(world)
        plain.add(world)
    days = rec.finish(world)
    assert [d.day for d in days] == [0, 1] and all(d.ticks == DAY for d in days)
    assert days[0].deaths >= 1 and days[0].faints >= 1, "the starving agent shows up"
    assert days[0].collapses >= 1 and days[0].unkempt >= 1 and days[0].lonely >= 1
    assert days[0].low_mood_ticks >= 1
    for fig in days:
        want = plain.days[fig.day]
        assert (fig.deaths, fig.faints, fig.exits) == (want["deaths"], want["faints"],
                                                       want["exits"])
        assert fig.population == want["population"]
        assert (fig.collapses, fig.unkempt, fig.lonely, fig.soured_chats, fig.low_mood_ticks) == (
            want["collapses"], want["unkempt"], want["lonely"], want["soured"], want["low_mood"])
        assert fig.money_per_capita == pytest.approx(want["money"], abs=1e-4)
        assert fig.rival_ties == want["rival_ties"]
        assert fig.rival_share == pytest.approx(want["rival_share"], abs=1e-5)
        assert fig.sleep_onsets == want["onsets"].sum() > 0
        assert fig.peak_sleep_hour_share == pytest.approx(
            want["onsets"].max() / want["onsets"].sum(), abs=1e-5)
        assert fig.max_goal_change == pytest.approx(want["change"], abs=1e-5)
        for hour, share in want["sleep_share"].items():
            assert fig.activity["sleep"][hour] == pytest.approx(share, abs=1e-4)
        assert list(fig.prices.values()) == pytest.approx(list(want["prices"]))
        for kind, shop in fig.shops.items():
            charged, stock, empty = want["shops"][kind]
            assert shop.price_mean == pytest.approx(np.mean(charged) / MINOR_PER_UNIT, abs=1e-6)
            assert (shop.price_min, shop.price_max) == (min(charged) / MINOR_PER_UNIT,
                                                        max(charged) / MINOR_PER_UNIT)
            assert shop.stock == pytest.approx(stock, abs=1e-4) and shop.empty == empty
        before = plain.days[fig.day - 1]["sold_out"] if fig.day else 0
        assert fig.sold_out == want["sold_out"] - before
        assert set(fig.mean_needs) == {"hunger", "hygiene", "energy", "social"}
        assert all(0.0 < v < 1.0 for v in fig.mean_needs.values())
        assert sum(fig.activity[g][12] for g in fig.activity) == pytest.approx(1.0, abs=1e-3)


CONFIG = """
world:
  town:
    agents: 40
console:
  enabled: false
telemetry:
  enabled: false
"""


def _townlet(tmp_path, *args):
    (tmp_path / "cfg.yaml").write_text(CONFIG)
    return subprocess.run([sys.executable, "-m", "townlet", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)


def test_report_json_and_table(tmp_path):
    out = _townlet(tmp_path, "report", "--config", "cfg.yaml", "--days", "1", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["ticks"] == DAY and len(summary["days"]) == 1
    day = summary["days"][0]
    assert day["population"] == 40 and len(day["activity"]["sleep"]) == HOURS
    assert set(day["shops"]) == {"grocer", "cafe"} and day["sold_out"] >= 0
    assert 0 < day["shops"]["grocer"]["price_min"] <= day["shops"]["grocer"]["price_max"]
    table = _townlet(tmp_path, "report", "--config", "cfg.yaml", "--days", "1")
    assert table.returncode == 0, table.stderr
    assert "Town by day" in table.stdout and "Activity by hour" in table.stdout
    assert "grocer price" in table.stdout and "cafe stock" in table.stdout
    bad = _townlet(tmp_path, "report", "--config", "cfg.yaml", "--days", "0")
    assert bad.returncode == 2 and "Invalid value for '--days'" in bad.stderr


def test_run_json_has_a_figure_per_day(tmp_path):
    out = _townlet(tmp_path, "run", "--config", "cfg.yaml", "--ticks", str(DAY + 60), "--json")
    assert out.returncode == 0, out.stderr
    days = json.loads(out.stdout)["days"]
    assert [(d["day"], d["ticks"]) for d in days] == [(0, DAY), (1, 60)]
