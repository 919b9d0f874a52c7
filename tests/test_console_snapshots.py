"""The snapshot console commands through the real server (CURVE, ZAP, keys) against a real
World on the real Simulation loop, and once inside ``townlet run`` as users start it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest
from _console import Town
from _snapshot_damage import tamper, truncate
from _snapshot_legacy import as_schema1

from townlet.client.console import ConsoleClient
from townlet.client.errors import Forbidden, ForbiddenPath, InvalidArgument, NotFound
from townlet.config.paths import SNAPSHOTS_DIR
from townlet.console.commands import COMMANDS
from townlet.snapshots import SnapshotHeader, open_snapshot, read_header, write_snapshot
from townlet.snapshots.migrations import SCHEMA_VERSION
from townlet.snapshots.world_io import save_world
from townlet.world import World

SNAPSHOT_COMMANDS = ("snapshot_save", "snapshot_load", "snapshot_list", "snapshot_verify",
                     "snapshot_migrate")


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    t = Town(tmp_path_factory.mktemp("snaptown"), agents=40, paused=True)
    yield t
    t.close()


@pytest.fixture(scope="module")
def root(town: Town) -> Path:
    return town.server.sandbox.root


@pytest.fixture
def admin(town: Town) -> Iterator[ConsoleClient]:
    """An admin session; the loop stays paused so the test can read the world safely."""
    with town.client("admin", timeout=30.0) as c:
        c.call("pause")
        yield c


@pytest.fixture(scope="module")
def good(town: Town) -> str:
    """``good.tsnap``: the town saved once through the console."""
    with town.client("admin", timeout=30.0) as c:
        c.call("pause")
        c.call("snapshot_save", "good.tsnap", overwrite=True)
    return "good.tsnap"


def wait_tick(c: ConsoleClient, tick: int) -> None:
    for _ in range(400):
        if c.call("status")["tick"] == tick:
            return
        time.sleep(0.01)
    raise AssertionError(f"the town never reached tick {tick}")


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` with its bytes (to prove nothing was written)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def test_table_rows() -> None:
    roles = {n: COMMANDS[n].role for n in SNAPSHOT_COMMANDS}
    assert roles == {"snapshot_save": "admin", "snapshot_load": "admin",
                     "snapshot_list": "viewer", "snapshot_verify": "admin",
                     "snapshot_migrate": "admin"}
    assert COMMANDS["snapshot_save"].writes_files and COMMANDS["snapshot_migrate"].writes_files
    assert all(c.role == "admin" for c in COMMANDS.values() if c.writes_files)
    assert not COMMANDS["snapshot_save"].local and not COMMANDS["snapshot_load"].local


def test_save_then_load_restores_the_hash_and_continues_exactly(town: Town, root: Path,
                                                                admin: ConsoleClient) -> None:
    w = town.world
    t0 = admin.call("step", 7)["tick"] + 7
    wait_tick(admin, t0)
    saved = admin.call("snapshot_save", "runs/mid.tsnap")
    assert saved["name"] == "runs/mid.tsnap" and saved["tick"] == t0 == w.tick
    assert saved["state_hash"] == w.state_hash()
    assert saved["config_id"] == w.config_id and saved["size"] == (root / "runs/mid.tsnap"
                                                                    ).stat().st_size
    admin.call("step", 5)
    wait_tick(admin, t0 + 5)
    after_five = w.state_hash()
    admin.call("kill", 3)  # diverge from the saved run: the load must undo this too
    admin.call("step", 2)
    wait_tick(admin, t0 + 7)

    loaded = admin.call("snapshot_load", "runs/mid.tsnap")
    assert loaded["previous_tick"] == t0 + 7 and loaded["tick"] == t0
    assert loaded["state_hash"] == saved["state_hash"] == w.state_hash()
    assert not loaded["config_mismatch"] and loaded["migrations"] == []
    assert admin.call("status")["tick"] == t0
    admin.call("step", 5)  # the next ticks continue the saved run bit for bit
    wait_tick(admin, t0 + 5)
    assert w.state_hash() == after_five


def test_save_refuses_an_existing_name_unless_overwrite(town: Town, root: Path, good: str,
                                                        admin: ConsoleClient) -> None:
    before = (root / good).read_bytes()
    with pytest.raises(InvalidArgument, match="already exists.*overwrite=true"):
        admin.call("snapshot_save", good)
    assert (root / good).read_bytes() == before
    again = admin.call("snapshot_save", good, overwrite=True)
    assert again["tick"] == town.world.tick


def test_retried_save_replays_the_first_result(town: Town, root: Path,
                                               admin: ConsoleClient) -> None:
    first = admin.request("snapshot_save", ["replayed.tsnap"], cmd_id="save-replayed")
    again = admin.request("snapshot_save", ["replayed.tsnap"], cmd_id="save-replayed")
    assert first.ok and again == first  # not "already exists"


BAD_NAMES: list[tuple[str, object]] = [
    ("absolute", "/tmp/x.tsnap"),
    ("dotdot", "../x.tsnap"),
    ("nested-dotdot", "runs/../../x.tsnap"),
    ("home", "~/x.tsnap"),
    ("nul", "a\x00b.tsnap"),
    ("not-utf8", b"\xff\xfe.tsnap"),
    ("file-symlink-out", "link-out.tsnap"),
    ("dir-symlink-out", "dir-out/x.tsnap"),
]


@pytest.fixture(scope="module")
def escape_links(town: Town, root: Path) -> Path:
    """``link-out.tsnap`` -> a snapshot outside the root; ``dir-out`` -> a directory outside."""
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    victim = outside / "victim.tsnap"
    save_world(World(town.world.config, seed=1), "victim.tsnap", root=outside, overwrite=True)
    (root / "link-out.tsnap").symlink_to(victim)
    (root / "dir-out").symlink_to(outside, target_is_directory=True)
    return outside


CALLS: list[tuple[str, Callable[[ConsoleClient, object], object]]] = [
    ("save", lambda c, n: c.call("snapshot_save", n, overwrite=True)),
    ("load", lambda c, n: c.call("snapshot_load", n)),
    ("verify", lambda c, n: c.call("snapshot_verify", n)),
    ("migrate-source", lambda c, n: c.call("snapshot_migrate", n, "m.tsnap", overwrite=True)),
    ("migrate-target", lambda c, n: c.call("snapshot_migrate", "good.tsnap", n,
                                           overwrite=True)),
]


@pytest.mark.parametrize("label, bad", BAD_NAMES, ids=[b[0] for b in BAD_NAMES])
def test_every_forbidden_path_form_is_refused_and_nothing_is_touched(
        town: Town, root: Path, good: str, escape_links: Path, admin: ConsoleClient,
        label: str, bad: object) -> None:
    inside, outside = tree(root), tree(escape_links)
    state = town.world.state_hash()
    for what, call in CALLS:
        with pytest.raises(ForbiddenPath) as info:
            call(admin, bad)
        assert info.value.code == "E_FORBIDDEN_PATH", what
        assert str(root) not in info.value.message, what
    assert tree(root) == inside and tree(escape_links) == outside
    assert town.world.state_hash() == state
    assert not (root.parent / "x.tsnap").exists() and not Path("/tmp/x.tsnap").exists()


def test_honest_names_inside_the_root_work(root: Path, good: str, admin: ConsoleClient) -> None:
    (root / "inner").mkdir(exist_ok=True)
    link = root / "inner" / "alias.tsnap"
    if not link.is_symlink():
        link.symlink_to(root / good)  # a symlink that stays inside the root is fine
    assert admin.call("snapshot_verify", "inner/alias.tsnap") == {
        "name": good, "ok": True, "tick": read_header(root / good).tick,
        "sections": len(read_header(root / good).sections)}
    assert admin.call("snapshot_verify", f"./{good}")["ok"]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewer_and_operator_are_refused(town: Town, root: Path, good: str, role: str) -> None:
    inside, state = tree(root), town.world.state_hash()
    with town.client(role) as c:
        for name, args in (("snapshot_save", ["mine.tsnap"]), ("snapshot_load", [good]),
                           ("snapshot_verify", [good]),
                           ("snapshot_migrate", [good, "mine.tsnap"])):
            with pytest.raises(Forbidden, match="needs role admin"):
                c.call(name, *args)
        listed = c.call("snapshot_list")  # read-only listing is open to every role
        assert good in [r["name"] for r in listed["snapshots"]]
    assert tree(root) == inside and town.world.state_hash() == state




def _out_of_range(path: Path) -> None:
    header, sections = read_back(path)
    sections["agent_x"][0] = 30000  # far off the map: the kernel would index out of bounds
    write_snapshot(path, header, sections, overwrite=True)


def read_back(path: Path) -> tuple[SnapshotHeader, dict[str, np.ndarray]]:
    """A snapshot's header and writable copies of its sections (to forge variants)."""
    snap = open_snapshot(path)
    return snap.header, {k: v.copy() for k, v in snap.sections.items()}


def _future_schema(path: Path) -> None:
    header, sections = read_back(path)
    write_snapshot(path, msgspec.structs.replace(header, schema_version=SCHEMA_VERSION + 1),
                   sections, overwrite=True)


def _other_size(path: Path, town: Town) -> None:
    header, sections = read_back(path)
    sections["agent_x"] = sections["agent_x"][:-1].copy()
    write_snapshot(path, header, sections, overwrite=True)


BAD_FILES: list[tuple[str, Callable[[Path, Town], None], str]] = [
    ("tampered", lambda p, t: tamper(p, "rel_trust"),
     r"not a valid snapshot .*section 'rel_trust'.*checksum"),
    ("truncated", lambda p, t: truncate(p, "agent_needs"),
     r"not a valid snapshot .*section 'agent_needs': truncated"),
    ("not-a-snapshot", lambda p, t: p.write_bytes(b'{"schema_version": "1.5"}'),
     "wrong magic"),
    ("future-schema", lambda p, t: _future_schema(p), "newer than this build"),
    ("out-of-range", lambda p, t: _out_of_range(p),
     r"does not fit this world: section 'agent_x'.*value 30000 outside"),
    ("wrong-size", _other_size, r"does not fit this world: section 'agent_x'"),
]


@pytest.mark.parametrize("label, damage, match", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_snapshot_is_refused_and_the_world_is_untouched(
        town: Town, root: Path, good: str, admin: ConsoleClient, label: str,
        damage: Callable[[Path, Town], None], match: str) -> None:
    name = f"bad-{label}.tsnap"
    (root / name).write_bytes((root / good).read_bytes())
    damage(root / name, town)
    wait_tick(admin, admin.call("step", 1)["tick"] + 1)
    before, tick = town.world.state_hash(), town.world.tick
    with pytest.raises(InvalidArgument, match=match) as info:
        admin.call("snapshot_load", name)
    assert str(root) not in info.value.message
    assert town.world.state_hash() == before and town.world.tick == tick
    if label in ("tampered", "truncated", "not-a-snapshot"):
        v = admin.call("snapshot_verify", name)
        assert v["ok"] is False and v["name"] == name and str(root) not in v["error"]


def test_config_mismatch_is_refused_unless_allowed(town: Town, root: Path,
                                                   admin: ConsoleClient) -> None:
    cfg = town.world.config
    other = msgspec.structs.replace(cfg, world=msgspec.structs.replace(
        cfg.world, economy=msgspec.structs.replace(cfg.world.economy, shower=0.07)))
    foreign = World(other, seed=3)
    foreign.step()
    save_world(foreign, "foreign.tsnap", root=root, overwrite=True)
    before = town.world.state_hash()
    with pytest.raises(InvalidArgument, match=r"world\.economy\.shower.*"
                                              r"allow_config_mismatch=true"):
        admin.call("snapshot_load", "foreign.tsnap")
    assert town.world.state_hash() == before
    loaded = admin.call("snapshot_load", "foreign.tsnap", allow_config_mismatch=True)
    assert loaded["config_mismatch"] and loaded["config_id"] == foreign.config_id
    assert town.world.state_hash() == foreign.state_hash() and town.world.tick == 1


def test_missing_snapshot_is_not_found(town: Town, admin: ConsoleClient) -> None:
    for call in (lambda: admin.call("snapshot_load", "nope.tsnap"),
                 lambda: admin.call("snapshot_verify", "nope.tsnap"),
                 lambda: admin.call("snapshot_migrate", "nope.tsnap", "x.tsnap")):
        with pytest.raises(NotFound, match="no such snapshot: 'nope.tsnap'"):
            call()


def test_list_outputs(town: Town, root: Path, good: str) -> None:
    (root / "broken.tsnap").write_bytes(b"TOWNLET?" + b"\0" * 10)
    (root / "notes.txt").write_text("not a snapshot")
    with town.client("viewer") as c:
        listed = c.call("snapshot_list")
        rows = {r["name"]: r for r in listed["snapshots"]}
        assert not listed["truncated"]
        h = read_header(root / good)
        assert rows[good]["tick"] == h.tick and rows[good]["config_id"] == h.config_id
        assert rows[good]["schema"] == SCHEMA_VERSION and rows[good]["origin"] == "manual"
        assert rows[good]["size"] == (root / good).stat().st_size
        assert "error" in rows["broken.tsnap"] and str(root) not in rows["broken.tsnap"]["error"]
        assert "notes.txt" not in rows and "link-out.tsnap" not in rows
        one = c.call("snapshot_list", limit=1)
        assert len(one["snapshots"]) == 1 and one["truncated"]


def write_schema1(root: Path, source: str, name: str) -> None:
    """The schema 1 layout: one score per relationship tie (``rel_value``)."""
    header, sections = read_back(root / source)
    write_snapshot(root / name, msgspec.structs.replace(header, schema_version=1),
                   as_schema1(sections), overwrite=True)


def test_verify_and_migrate_outputs(town: Town, root: Path, good: str,
                                    admin: ConsoleClient) -> None:
    h = read_header(root / good)
    assert admin.call("snapshot_verify", good) == {"name": good, "ok": True, "tick": h.tick,
                                                   "sections": len(h.sections)}
    write_schema1(root, good, "v1.tsnap")
    m = admin.request("snapshot_migrate", ["v1.tsnap", "migrated/v2.tsnap"], cmd_id="mig-1")
    assert m.ok, m.error
    r = m.result
    assert (r["source"], r["target"], r["from_schema"], r["to_schema"]) == (
        "v1.tsnap", "migrated/v2.tsnap", 1, SCHEMA_VERSION)
    assert len(r["applied"]) == SCHEMA_VERSION - 1
    assert read_header(root / "migrated/v2.tsnap").origin == "migrated"
    assert read_header(root / "v1.tsnap").schema_version == 1  # the source is kept
    assert admin.request("snapshot_migrate", ["v1.tsnap", "migrated/v2.tsnap"],
                         cmd_id="mig-1") == m  # a retry replays, not "already exists"
    with pytest.raises(InvalidArgument, match="already exists"):
        admin.call("snapshot_migrate", "v1.tsnap", "migrated/v2.tsnap")
    assert admin.call("snapshot_migrate", "v1.tsnap", "migrated/v2.tsnap",
                      overwrite=True)["target"] == "migrated/v2.tsnap"
    assert admin.call("snapshot_verify", "migrated/v2.tsnap")["ok"]
    before = town.world.state_hash()
    loaded = admin.call("snapshot_load", "v1.tsnap")  # loading migrates on the fly too
    assert loaded["migrations"] == r["applied"] and loaded["tick"] == h.tick
    assert town.world.state_hash() != before


def test_snapshot_commands_are_audited(town: Town, good: str, admin: ConsoleClient) -> None:
    admin.call("snapshot_verify", good)
    audit = Path(town.cfg.audit_path)
    for _ in range(100):
        text = audit.read_text() if audit.exists() else ""
        if '"command":"snapshot_verify"' in text:
            break
        time.sleep(0.05)
    assert '"command":"snapshot_verify"' in text and '"command":"snapshot_save"' in text


# -- townlet run ----------------------------------------------------------------------------

RUN_CONFIG = """
world:
  town:
    agents: 40
console:
  endpoint: tcp://127.0.0.1:0
"""


def test_townlet_run_serves_the_snapshot_commands(tmp_path: Path) -> None:
    """``townlet run`` attaches the console with ``snapshots.root``: save/list/load work."""
    (tmp_path / "cfg.yaml").write_text(RUN_CONFIG)
    proc = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                             "--ticks", "100000000", "--no-publish", "--json"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = None
        deadline = time.monotonic() + 180
        assert proc.stderr is not None
        while endpoint is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            m = re.search(r"console: (tcp://127\.0\.0\.1:\d+)", line)
            endpoint = m.group(1) if m else None
        assert endpoint, "townlet run did not report its console endpoint"
        keys = tmp_path / ".townlet" / "keys"
        with ConsoleClient(endpoint, keys / "server.key", keys / "local-operator.key_secret",
                           timeout=30.0) as c:
            c.call("pause")
            saved = c.call("snapshot_save", "from-run.tsnap")
            assert (tmp_path / SNAPSHOTS_DIR / "from-run.tsnap").is_file()
            assert [r["name"] for r in c.call("snapshot_list")["snapshots"]] == [
                "from-run.tsnap"]
            c.call("step", 3)
            loaded = c.call("snapshot_load", "from-run.tsnap")
            assert loaded["state_hash"] == saved["state_hash"]
            with pytest.raises(ForbiddenPath):
                c.call("snapshot_save", "../escape.tsnap")
        assert not (tmp_path / "escape.tsnap").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130  # stopped with Ctrl-C
