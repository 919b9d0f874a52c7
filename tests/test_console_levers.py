"""The admin levers (set_price, force_chat, set_relationship, employment_exit,
toggle_mortality, set_exit_cap, set_spawn_delay) through the real console server: the
world changes as commanded, bad arguments get typed errors, non-admins are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _console import Town

from townlet.client.console import ConsoleClient
from townlet.client.errors import BusyTarget, Forbidden, InvalidArgument, NotFound
from townlet.world.actions import Flag
from townlet.world.state import NEEDS, PRICES, Ctl, ExitMeta, St

SOCIAL = NEEDS.index("social")
HUNGER = NEEDS.index("hunger")


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    t = Town(tmp_path_factory.mktemp("levers"), agents=60)
    yield t
    t.close()


@pytest.fixture
def admin(town: Town) -> Iterator[ConsoleClient]:
    """An admin session with the loop paused, so the test reads the world safely."""
    with town.client("admin") as c:
        c.call("pause")
        yield c
        c.call("resume")


def _advance(c: ConsoleClient, town: Town, ticks: int) -> None:
    """Step the paused loop ``ticks`` times and wait until it has."""
    target = town.world.tick + ticks
    c.call("step", ticks)
    for _ in range(10_000):
        if c.call("status")["tick"] >= target:
            return
    raise AssertionError(f"the loop did not reach tick {target}")


def test_levers_are_admin_only(town: Town) -> None:
    with town.client("operator") as c:
        for name, args in (("set_price", ["groceries", 1.0]), ("force_chat", [1, 2]),
                           ("set_relationship", [1, 2, 0.0, 0.0, 0.0]),
                           ("employment_exit", [1]), ("toggle_mortality", [False]),
                           ("set_exit_cap", [1]), ("set_spawn_delay", [1])):
            with pytest.raises(Forbidden):
                c.call(name, *args)
    assert town.world.levers()["mortality"] == 1


def test_set_price(town: Town, admin: ConsoleClient) -> None:
    r = admin.call("set_price", "groceries", 2.5)
    k = PRICES.index("groceries")
    assert r == {"name": "groceries", "base": 2.5, "now": 2.5}
    assert int(town.world.view("price_base")[k]) == int(town.world.view("price_now")[k]) \
        == 2_500_000
    for args in (["bread", 1.0], ["groceries", -1.0], ["groceries", "cheap"], ["none", 1.0]):
        with pytest.raises(InvalidArgument):
            admin.call("set_price", *args)
    assert int(town.world.view("price_base")[k]) == 2_500_000


def test_force_chat(town: Town, admin: ConsoleClient) -> None:
    w = town.world
    chats = int(w.view("stats")[St.CHATS])
    admin.call("set_need", 5, "social", 0.1)
    # a known start: how far the town ran before the pause (and what ties it made) varies
    admin.call("set_relationship", 4, 5, 0.0, 0.0, 0.0)
    r = admin.call("force_chat", 4, 5, quality=0.5)
    trust, fam, _ = w.tie(4, 5)
    assert r["speaker_tie"]["trust"] == pytest.approx(trust) and trust > 0 and fam > 0
    assert w.tie(5, 4) == (trust, fam, 0.0)
    assert int(w.view("stats")[St.CHATS]) == chats + 1
    assert float(w.view("agent_needs")[5, SOCIAL]) > 0.1
    with pytest.raises(InvalidArgument, match="two different agents"):
        admin.call("force_chat", 4, 4)
    with pytest.raises(InvalidArgument):
        admin.call("force_chat", 4, 5, quality=1.5)
    with pytest.raises(NotFound):
        admin.call("force_chat", 4, 10_000)


def test_set_relationship(town: Town, admin: ConsoleClient) -> None:
    r = admin.call("set_relationship", 7, 9, -0.5, 0.25, 0.9)
    assert r["tie"] == {"trust": -0.5, "familiarity": 0.25, "rivalry": pytest.approx(0.9)}
    assert town.world.tie(9, 7) == pytest.approx((-0.5, 0.25, 0.9))
    for args in ([7, 9, 2.0, 0.0, 0.0], [7, 9, 0.0, -0.1, 0.0], [7, 9, 0.0, 0.0, 1.1],
                 [7, 7, 0.0, 0.0, 0.0]):
        with pytest.raises(InvalidArgument):
            admin.call("set_relationship", *args)
    assert town.world.tie(7, 9) == pytest.approx((-0.5, 0.25, 0.9))


def test_employment_exit_and_exit_cap(town: Town, admin: ConsoleClient) -> None:
    w = town.world
    assert admin.call("set_exit_cap", 0)["exit_cap"] == 0
    gen = int(w.view("agent_gen")[11])
    r = admin.call("employment_exit", 11)
    assert r["agent"] == 11 and r["place"] >= 1
    assert w.view("agent_flags")[11] & Flag.EXIT_PENDING
    with pytest.raises(BusyTarget, match="already waiting"):
        admin.call("employment_exit", 11)
    with pytest.raises(NotFound):
        admin.call("employment_exit", 10_000)
    _advance(admin, town, w.params.exit_spacing + 2)  # unlimited cap: the exit goes through
    assert int(w.view("agent_gen")[11]) > gen or int(w.view("agent_respawn_at")[11]) > 0
    assert int(w.view("exit_meta")[ExitMeta.LENGTH]) == 0
    assert admin.call("set_exit_cap", 3)["exit_cap"] == 3
    assert int(w.view("ctl")[Ctl.EXIT_CAP]) == 3
    with pytest.raises(InvalidArgument):
        admin.call("set_exit_cap", -1)


def test_mortality_and_spawn_delay(town: Town, admin: ConsoleClient) -> None:
    w, i = town.world, 13
    assert admin.call("set_spawn_delay", 7)["spawn_delay"] == 7
    assert admin.call("toggle_mortality", False)["mortality"] is False
    admin.call("possess", i)  # a possessed agent waits: it cannot eat
    deaths, gen = int(w.view("stats")[St.DEATHS]), int(w.view("agent_gen")[i])
    for _ in range(4):  # hunger 0 for longer than death_after_ticks
        admin.call("set_need", i, "hunger", 0.0)
        _advance(admin, town, w.config.world.lifecycle.death_after_ticks // 3 + 1)
    assert w.alive[i] and int(w.view("agent_gen")[i]) == gen
    assert int(w.view("stats")[St.DEATHS]) == deaths
    admin.call("set_need", i, "hunger", 0.0)
    assert admin.call("toggle_mortality", True)["mortality"] is True
    _advance(admin, town, 1)
    assert int(w.view("stats")[St.DEATHS]) == deaths + 1 and not w.alive[i]
    assert int(w.view("agent_respawn_at")[i]) == w.tick + 7
    with pytest.raises(InvalidArgument):
        admin.call("set_spawn_delay", -3)
    with pytest.raises(InvalidArgument):
        admin.call("toggle_mortality", "yes")


def test_levers_are_audited(town: Town, admin: ConsoleClient) -> None:
    admin.call("set_exit_cap", 2)
    text = Path(town.cfg.audit_path).read_text(encoding="utf-8")
    recs = [json.loads(line) for line in text.splitlines()]
    done = {(r["command"], r["code"]) for r in recs}
    assert ("set_exit_cap", "OK") in done and ("set_price", "OK") in done
    assert ("set_relationship", "E_INVALID_ARG") in done
