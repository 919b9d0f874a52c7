"""Every console command, run through the real server, against a real World: its result
matches the world state and its effect is visible in the state the next frame is made of."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _console import Town

from townlet.client.console import ConsoleClient
from townlet.client.errors import InvalidArgument, NotFound
from townlet.config import default_config, with_agents
from townlet.config.money import to_units
from townlet.console.commands import COMMANDS
from townlet.console.context import EventLog
from townlet.world import World
from townlet.world.actions import Action, Flag
from townlet.world.state import NEEDS


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    t = Town(tmp_path_factory.mktemp("wtown"), agents=60)
    yield t
    t.close()


@pytest.fixture
def op(town: Town) -> Iterator[ConsoleClient]:
    """An operator session with the loop paused, so the test can read the world safely."""
    with town.client("admin") as c:
        c.call("pause")
        yield c
        c.call("resume")


def test_every_command_is_exercised() -> None:
    tests = Path(__file__).parent
    here = "".join((tests / f).read_text() for f in ("test_console_world.py",
                                                     "test_console_server.py",
                                                     "test_console_snapshots.py",
                                                     "test_console_levers.py",
                                                     "test_pilot_cli.py"))
    called = set(re.findall(r'(?:call|request)\(\s*"(\w+)"', here))
    assert set(COMMANDS) <= called, set(COMMANDS) - called


def test_status(town: Town, op: ConsoleClient) -> None:
    st = op.call("status")
    w = town.world
    assert st["tick"] == w.tick and st["population"] == int(w.alive.sum())
    assert st["capacity"] == w.n_agents and st["config_id"] == w.config_id and st["paused"]


def test_pause_step_speed(town: Town, op: ConsoleClient) -> None:
    t0 = op.call("status")["tick"]
    assert op.call("step", 3)["pending_steps"] == 3
    for _ in range(200):
        if op.call("status")["tick"] == t0 + 3:
            break
    assert op.call("status")["tick"] == t0 + 3  # exactly three ticks, then paused again
    assert op.call("speed", 50)["target_tps"] == 50.0
    assert op.call("speed", 0)["target_tps"] == 0.0
    r = op.call("resume")
    assert not r["paused"]
    op.call("pause")


def test_agent(town: Town, op: ConsoleClient) -> None:
    a = op.call("agent", 5)
    w = town.world
    assert a["state"]["x"] == int(w.view("agent_x")[5])
    assert a["state"]["wallet"] == pytest.approx(float(w.view("agent_wallet")[5]))
    assert list(a["needs"]) == list(NEEDS)
    assert set(a["state"]) == {n[6:] for n in w.sections() if n.startswith("agent_")}


def test_agents(town: Town, op: ConsoleClient) -> None:
    w = town.world
    res = op.call("agents", limit=1000)
    assert res["total"] == int(w.alive.sum())
    assert res["columns"][:3] == ["agent", "x", "y"]
    x, y = int(w.view("agent_x")[0]), int(w.view("agent_y")[0])
    near = op.call("agents", near=[x, y], radius=0)
    assert 0 in [row[0] for row in near["rows"]]
    hungry = op.call("agents", need="hunger", below=0.0)
    assert hungry["total"] == 0
    with pytest.raises(InvalidArgument):
        op.call("agents", need="thirst")


def test_relationships(town: Town, op: ConsoleClient) -> None:
    r = op.call("relationships", 0)
    other = town.world.view("rel_other")[0]
    assert r["ties"] == int((other >= 0).sum())
    assert all(t["other"] in other.tolist() for t in r["friends"])


def test_related_is_a_bitmap_of_the_agents_holding_such_a_tie(town: Town,
                                                               op: ConsoleClient) -> None:
    w = town.world
    rel = w.config.world.relationships
    other, held = w.view("rel_other"), w.view("rel_other") >= 0
    want = {"tie": held.any(axis=1),
            "friend": (held & (w.view("rel_trust") >= np.float32(rel.friendship_threshold)))
            .any(axis=1),
            "rival": (held & (w.view("rel_riv") >= np.float32(rel.avoid_threshold))).any(axis=1)}
    for kind, mask in want.items():
        r = op.call("related", kind)
        got = np.unpackbits(np.frombuffer(r["mask"], np.uint8), count=r["slots"]).astype(bool)
        assert r["slots"] == w.n_agents and r["tick"] == w.tick
        assert np.array_equal(got, mask & w.alive) and r["total"] == int(got.sum())
    assert want["tie"].any()
    a = int(np.flatnonzero(held.any(axis=1) & w.alive)[0])
    b = int(other[a][other[a] >= 0][0])
    with_b = op.call("related", with_agent=b)
    got = np.unpackbits(np.frombuffer(with_b["mask"], np.uint8), count=w.n_agents)
    assert got[a] and np.array_equal(got.astype(bool), (other == b).any(axis=1) & w.alive)
    with pytest.raises(InvalidArgument):
        op.call("related", "enemy")
    with pytest.raises(NotFound):
        op.call("related", "tie", w.n_agents)
    with town.client("viewer") as viewer:  # read-only: a viewer may ask
        assert viewer.call("related", "rival")["slots"] == w.n_agents
    audit = Path(town.cfg.audit_path).read_text()
    assert '"related"' in audit


def test_queues(town: Town, op: ConsoleClient) -> None:
    q = op.call("queues", min_len=0, limit=5)
    assert q["total_waiting"] == int(town.world.view("obj_q_len").sum())
    assert len(q["rows"]) == 5


def test_economy(town: Town, op: ConsoleClient) -> None:
    e = op.call("economy")
    w = town.world
    assert e["prices"]["groceries"] == to_units(w.view("price_now")[1])
    assert e["wallets"]["sum"] == pytest.approx(to_units(w.view("agent_wallet")[w.alive].sum()),
                                                rel=1e-6)
    assert set(e["ledger"]) and set(e["stats"])
    led = e["ledger"]  # closed: wallets + treasury == initial + endowment
    assert e["wallets"]["sum"] + e["treasury"] == pytest.approx(
        led["initial"] + led["endowment"], rel=1e-9)


def test_events(town: Town, op: ConsoleClient) -> None:
    op.call("kill", 30)
    op.call("step", 1)
    for _ in range(200):
        ev = op.call("events", code="agent_killed")
        if ev["rows"]:
            break
    assert any(row[2] == 30 for row in ev["rows"])
    with pytest.raises(InvalidArgument, match="unknown event code"):
        op.call("events", code="nothing")


def test_spawn_and_kill(town: Town, op: ConsoleClient) -> None:
    w = town.world
    assert op.call("kill", 20) == {"agent": 20, "done": "killed"}
    assert not w.alive[20]
    with pytest.raises(NotFound):
        op.call("kill", 20)
    s = op.call("spawn")
    assert w.alive[s["agent"]] and (int(w.view("agent_x")[s["agent"]]), int(
        w.view("agent_y")[s["agent"]])) == (s["x"], s["y"])


def test_teleport(town: Town, op: ConsoleClient) -> None:
    w = town.world
    x, y = int(w.view("agent_x")[3]), int(w.view("agent_y")[3])
    assert op.call("teleport", 2, x, y) == {"agent": 2, "x": x, "y": y}
    assert (int(w.view("agent_x")[2]), int(w.view("agent_y")[2])) == (x, y)


def test_set_need(town: Town, op: ConsoleClient) -> None:
    r = op.call("set_need", 6, "energy", 0.25)
    assert r["value"] == pytest.approx(0.25)
    assert float(town.world.view("agent_needs")[6, NEEDS.index("energy")]) == pytest.approx(0.25)
    with pytest.raises(InvalidArgument):
        op.call("set_need", 6, "energy", 1.5)


def test_possess_act_release(town: Town, op: ConsoleClient) -> None:
    w = town.world
    op.call("possess", 8)
    assert w.view("agent_flags")[8] & Flag.POSSESSED
    assert op.call("act", 8, "move_n") == {"agent": 8, "action": "move_n"}
    assert int(w.view("agent_possessed_action")[8]) == Action.MOVE_N
    op.call("act", 8, int(Action.WAIT))
    with pytest.raises(InvalidArgument, match="unknown action"):
        op.call("act", 8, "fly")
    op.call("release", 8)
    assert not w.view("agent_flags")[8] & Flag.POSSESSED
    with pytest.raises(InvalidArgument, match="not possessed"):
        op.call("act", 8, "wait")


def test_set_object(town: Town, op: ConsoleClient) -> None:
    assert op.call("set_object", 0, False) == {"obj": 0, "enabled": False}
    assert town.world.view("obj_disabled")[0] == 1
    op.call("set_object", 0, True)
    assert town.world.view("obj_disabled")[0] == 0
    with pytest.raises(NotFound):
        op.call("set_object", 10**7, True)


def test_perturbations(town: Town, op: ConsoleClient) -> None:
    w = town.world
    base = float(w.view("price_now")[1])
    ev = op.call("perturb", "price_spike", 100, magnitude=2.0, target="groceries")
    assert float(w.view("price_now")[1]) == pytest.approx(base * 2.0)
    mine = [p for p in op.call("perturbations") if p["event_id"] == ev["event_id"]]
    assert len(mine) == 1 and mine[0]["manual"] and mine[0]["kind"] == "price_spike"
    assert op.call("cancel_perturbation", ev["event_id"])["cancelled"]
    assert float(w.view("price_now")[1]) == base  # restored exactly
    assert ev["event_id"] not in [p["event_id"] for p in op.call("perturbations")]
    with pytest.raises(NotFound):
        op.call("cancel_perturbation", ev["event_id"])
    b = op.call("perturb", "blackout", 50, target=0)
    assert w.view("district_power")[0] == 0
    op.call("cancel_perturbation", b["event_id"])
    assert w.view("district_power")[0] == 1


def test_perturb(town: Town, op: ConsoleClient) -> None:
    with pytest.raises(InvalidArgument):
        op.call("perturb", "earthquake", 10)
    with pytest.raises(InvalidArgument):
        op.call("perturb", "outage", 10, target=10**6)


def test_policy_info(town: Town, op: ConsoleClient) -> None:
    assert op.call("policy_info")["kind"] == "scripted"


def test_keys(town: Town, op: ConsoleClient) -> None:
    rows = op.call("keys")
    assert {r["name"] for r in rows} >= {"viewer1", "operator1", "admin1"}
    assert all("public_key" not in r and "secret" not in str(r) for r in rows)
    with pytest.raises(NotFound):
        op.call("revoke", "nobody")


def test_files(town: Town, op: ConsoleClient) -> None:
    root: Path = town.server.sandbox.root
    (root / "x.tsnap").write_bytes(b"1234")
    listing = op.call("files")
    assert {"name": "x.tsnap", "kind": "file", "size": 4} .items() <= \
        next(e for e in listing["entries"] if e["name"] == "x.tsnap").items()


def test_state_hash_changes_only_through_commands(town: Town, op: ConsoleClient) -> None:
    h0 = town.world.state_hash()
    op.call("status")
    op.call("agents")
    op.call("economy")
    assert town.world.state_hash() == h0  # reads change nothing
    op.call("set_need", 9, "social", 0.5 if float(
        town.world.view("agent_needs")[9, 3]) != 0.5 else 0.4)
    assert town.world.state_hash() != h0
    assert np.isfinite(town.world.view("agent_needs")).all()


def test_event_log_ring_keeps_the_newest_events_in_order() -> None:
    w = World(with_agents(default_config(), 40), seed=1)
    log = EventLog(16)
    seen = []
    for _ in range(60):
        w.step()
        log.observe(w)
        log.observe(w)  # same tick twice: recorded once
        seen.append(w.events())
    allev = np.concatenate(seen)
    assert len(allev) > 16
    np.testing.assert_array_equal(log.recent(16), allev[-16:])
    np.testing.assert_array_equal(log.recent(5), allev[-5:])
