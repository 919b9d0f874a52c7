"""The dashboard's pure views over a frame: agent queries, map cells, digest, profiles.

Frames come from a real world's sections (the columns a subscriber rebuilds)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from townlet.cli import main
from townlet.config import default_config, with_agents
from townlet.frames.schema import STATE_COLUMNS
from townlet.security import load_keypair
from townlet.security.profile import ProfileError, load_profile, profile_path
from townlet.sim.services import bootstrap_keys, local_operator_key
from townlet.ui.agent_query import QueryError, agent_rows
from townlet.ui.cli import resolve_login
from townlet.ui.frame import digest
from townlet.ui.login import key_file_expiry, preflight
from townlet.ui.mapgrid import Viewport, cells, glyph_rows
from townlet.ui.vocab import Names
from townlet.world import World
from townlet.world.state import frame_vocab

NAMES = Names(frame_vocab())
"""What the writer's schema names (tests/test_ui_vocab.py shows it is the world's)."""


@pytest.fixture(scope="module")
def cols():
    w = World(with_agents(default_config(), 500), seed=0)
    for _ in range(30):
        w.step()
    sec = w.sections()
    out = {name: np.array(sec[name]) for name in STATE_COLUMNS}
    out.update(tick=np.array([w.tick], np.int64), tick_of_day=np.array([w.tick], np.int32),
               ticks_per_day=np.array([1440], np.int32),
               n_alive=np.array([int(out["agent_alive"].sum())], np.int32),
               n_events=np.array([0], np.int32),
               config_id=np.array([w.config_id.encode()], "S64"))
    return out


def test_filter_and_sort_return_only_the_rows_shown(cols):
    total, rows = agent_rows(cols, "hunger<0.9 wallet>=0", "hunger", descending=True, limit=7)
    hunger = cols["agent_needs"][:, 0]
    want = np.flatnonzero((cols["agent_alive"] != 0) & (hunger < 0.9))
    assert total == want.size and len(rows) == min(7, total)
    got = [r.values[0] for r in rows]
    assert got == sorted(got, reverse=True)
    assert got[0] == pytest.approx(float(hunger[want].max()))
    _, by_goal = agent_rows(cols, "goal=none", "agent", limit=1000, names=NAMES)
    assert all(r.values[5] == 0 for r in by_goal)


@pytest.mark.parametrize("bad, says", [("hunger", "bad filter term"),
                                       ("color=3", "unknown field"),
                                       ("goal=nap", "goal wants a number or one of")])
def test_bad_filters_say_what_is_wrong(cols, bad, says):
    with pytest.raises(QueryError, match=says):
        agent_rows(cols, bad, names=NAMES)


def test_relationship_terms_take_the_consoles_bitmaps(cols):
    alive = cols["agent_alive"] != 0
    hit = np.zeros(alive.size, bool)
    hit[::3] = True
    with pytest.raises(QueryError, match="no answer from the console for rel=rival"):
        agent_rows(cols, "rel=rival")
    total, rows = agent_rows(cols, "rel=rival", related={("rival", None): hit}, limit=1000)
    assert total == int((hit & alive).sum()) and all(r.agent % 3 == 0 for r in rows)
    total, _ = agent_rows(cols, "rel!=rival@7 hunger<=1", related={("rival", 7): hit})
    assert total == int((~hit & alive).sum())
    with pytest.raises(QueryError, match="no answer"):  # a bitmap for another town size
        agent_rows(cols, "rel=tie", related={("tie", None): hit[:-1]})
    with pytest.raises(QueryError, match="bad relationship term"):
        agent_rows(cols, "rel=rival@x")


def test_map_counts_only_what_is_in_view(cols):
    alive = cols["agent_alive"] != 0
    x, y = cols["agent_x"][alive], cols["agent_y"][alive]
    vp = Viewport(0, 0, 10, 6, zoom=4)
    count, objs, _me = cells(cols, vp, follow=int(np.flatnonzero(alive)[0]))
    inside = (x < 40) & (y < 24)
    assert count.sum() == np.count_nonzero(inside) and count.shape == (6, 10)
    rows = glyph_rows(count, objs, vp.zoom)
    assert len(rows) == 6 and all(len(r) == 10 for r in rows)
    far = Viewport(10**6, 10**6, 10, 6)
    assert cells(cols, far)[0].sum() == 0 and cells(cols, far, 0)[2] is None


def test_digest_counts_the_town(cols):
    d = digest(cols)
    assert d.population == int(cols["agent_alive"].sum())
    assert sum(sum(h) for h in d.needs_hist.values()) == 4 * d.population
    assert sum(d.shifts.values()) == d.population
    assert d.waiting == int(cols["obj_q_len"].sum())
    assert set(d.prices) == {"groceries", "cafe_meal", "shower"}


def test_keys_issue_writes_the_profile_the_dashboard_reads(tmp_path):
    kdir = tmp_path / "keys"
    run = CliRunner().invoke
    assert run(main, ["keys", "init", "--key-dir", str(kdir)]).exit_code == 0
    res = run(main, ["keys", "issue", "--key-dir", str(kdir), "--name", "ann", "--role",
                     "operator", "--ttl", "2h", "--console-endpoint", "tcp://10.0.0.5:7571"])
    assert res.exit_code == 0, res.output
    key = next((kdir / "clients").glob("ann-*.key_secret"))
    prof = load_profile(profile_path(key))
    assert (prof.name, prof.role, prof.console_endpoint) == ("ann", "operator",
                                                             "tcp://10.0.0.5:7571")
    secret = load_keypair(key).secret.decode()
    assert prof.client_key == str(key.resolve()) and secret not in profile_path(key).read_text()
    assert prof.expires_at == key_file_expiry(key)
    login = resolve_login(None, str(kdir), None, None, None, "tcp://10.0.0.5:7710")
    assert login.client_key == key.resolve() and login.telemetry_endpoint.endswith(":7710")
    assert preflight(login) is None


def test_a_missing_or_broken_profile_is_a_clear_error(tmp_path):
    with pytest.raises(ProfileError, match="townlet keys issue"):
        load_profile(tmp_path / "nope.profile.json")
    bad = tmp_path / "bad.profile.json"
    bad.write_text("{}")
    with pytest.raises(ProfileError, match="malformed"):
        load_profile(bad)
    res = CliRunner().invoke(main, ["dashboard", "--profile", str(bad)])
    assert res.exit_code == 1 and "malformed" in res.output
    no_key = resolve_login(None, str(tmp_path / "empty"), None, None, None, None)
    assert preflight(no_key).kind == "no_key"


def test_the_first_run_leaves_a_profile_the_dashboard_finds(tmp_path):
    cfg = default_config()
    kdir = tmp_path / "keys"
    bootstrap_keys(str(kdir), cfg)
    login = resolve_login(None, str(kdir), None, None, None, None)
    assert login.client_key == local_operator_key(str(kdir)).resolve()
    assert (login.console_endpoint, login.telemetry_endpoint) == (cfg.console.endpoint,
                                                                  cfg.telemetry.endpoint)
    assert login.role == "admin" and preflight(login) is None


def test_the_policy_named_by_the_frame_is_shown(cols):
    assert digest(cols).policy == ""  # a stream without the policy columns
    named = {**cols, "policy_name": np.array([b"ppo"], "S64"),
             "policy_hash": np.array([b"ab" * 32], "S64"),
             "anneal_ratio": np.array([0.25], np.float32)}
    assert digest(named).policy == "ppo abababababab (25% learned)"


def test_alert_windows_count_raised_ticks_per_poll_and_restart_with_the_monitor():
    from townlet.ui.policy_panel import AlertWindows

    w = AlertWindows()
    for tick, raised in ((10, 0), (20, 3), (20, 3), (30, 5), (40, 5)):
        w.add({"tick": tick, "alert_ticks": {"lateness_spike": raised}})
    assert w.series() == (30, {"lateness_spike": [3, 2, 0]})  # the repeated poll is one
    w.add({"tick": 5, "alert_ticks": {"lateness_spike": 1}})  # a new run's monitor
    assert w.series() == (0, {})
