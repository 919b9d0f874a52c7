"""Console server over real CURVE sockets with a real ticking World: authentication,
every role boundary, every error code, replay, revocation, floods, audit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import msgspec
import numpy as np
import pytest
import zmq
from _console import Town
from _keys import curve_client, send_if_connected
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townlet.client.console import ConsoleClient
from townlet.client.errors import (
    ERROR_TYPES,
    AlreadyPossessed,
    BlockedTile,
    BusyTarget,
    ConsoleTimeout,
    Forbidden,
    ForbiddenPath,
    HandshakeFailed,
    HandshakeRefused,
    InternalError,
    InvalidArgument,
    NotFound,
    RateLimited,
    ServerUnreachable,
    Unauthorized,
    UnknownCommand,
    UsageError,
)
from townlet.config.console import ConsoleConfig
from townlet.console.cmd_info import NoArgs
from townlet.console.commands import COMMANDS
from townlet.console.server import ConsoleServer
from townlet.console.table import LOCAL, build_table
from townlet.security import init_key_dir, issue_key, parse_ttl, revoke_keys
from townlet.security.registry import RegistryDoc, update_registry, utcnow
from townlet.security.roles import ROLES, role_allows
from townlet.sim.control import LoopControl
from townlet.wire.console import Request, decode_response, encode
from townlet.world.geometry import TILE


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    t = Town(tmp_path_factory.mktemp("town"))
    yield t
    t.close()


def recv(s: zmq.Socket, timeout_ms: int = 60_000):
    assert s.poll(timeout_ms), "no reply"
    return decode_response(s.recv())


# -- authentication ------------------------------------------------------------------------
def test_each_role_is_identified(town: Town) -> None:
    for role in ROLES:
        with town.client(role) as c:
            me = c.call("whoami")
            assert me["role"] == role and me["identity"] == f"{role}1"


def test_unknown_key_handshake_refused(town: Town, tmp_path: Path) -> None:
    init_key_dir(tmp_path / "other")
    _, stranger = issue_key(tmp_path / "other", "mallory", "admin", parse_ttl("1h"))
    with (
        ConsoleClient(town.endpoint, town.kdir / "server.key", stranger, timeout=2) as c,
        pytest.raises(HandshakeRefused, match="unknown, expired or revoked"),
    ):
        c.call("whoami")


def test_expired_key_handshake_refused(town: Town) -> None:
    _, old = issue_key(town.kdir, "old", "admin", parse_ttl("1m"),
                       now=utcnow() - timedelta(hours=1))
    with (
        ConsoleClient(town.endpoint, town.kdir / "server.key", old, timeout=2) as c,
        pytest.raises(HandshakeRefused),
    ):
        c.call("whoami")


def test_wrong_server_key_fails_handshake(town: Town) -> None:
    wrong, _ = zmq.curve_keypair()
    with (
        ConsoleClient(town.endpoint, wrong, town.keys["admin"], timeout=2) as c,
        pytest.raises(HandshakeFailed, match="server key"),
    ):
        c.call("whoami")


def test_no_key_gets_nothing(town: Town) -> None:
    s = curve_client(zmq.Context.instance(), town.endpoint, b"", None)
    send_if_connected(s, encode(Request(cmd_id="x", name="whoami")))
    assert not s.poll(700)
    s.close()


def test_unreachable_server(town: Town) -> None:
    with ConsoleClient("tcp://127.0.0.1:1", town.kdir / "server.key", town.keys["viewer"],
                       timeout=0.5) as c, pytest.raises(ServerUnreachable):
        c.call("whoami")


def test_revocation_while_connected(tmp_path: Path) -> None:
    t = Town(tmp_path)
    try:
        _, key = issue_key(t.kdir, "eve", "operator", parse_ttl("1h"))
        c = ConsoleClient(t.endpoint, t.kdir / "server.key", key, timeout=3)
        assert c.call("status")["tick"] >= 0
        revoke_keys(t.kdir, "eve")
        with pytest.raises(Unauthorized, match="revoked"):
            c.call("status")          # same open connection, next request
        with pytest.raises(Unauthorized):
            c.call("whoami")          # also off-tick commands
        c.close()
        with (
            ConsoleClient(t.endpoint, t.kdir / "server.key", key, timeout=3) as c2,
            pytest.raises(HandshakeRefused),
        ):
            c2.call("whoami")     # and no new connection
    finally:
        t.close()


def test_expiry_while_connected(tmp_path: Path) -> None:
    t = Town(tmp_path)
    try:
        rec, key = issue_key(t.kdir, "fay", "viewer", parse_ttl("1h"))
        with ConsoleClient(t.endpoint, t.kdir / "server.key", key, timeout=3) as c:
            assert c.call("whoami")["identity"] == "fay"

            def expire(doc: RegistryDoc) -> RegistryDoc:
                past = utcnow() - timedelta(seconds=1)
                keys = [msgspec.structs.replace(r, expires_at=past) if r.key_id == rec.key_id
                        else r for r in doc.keys]
                return RegistryDoc(doc.version, keys)

            update_registry(t.kdir / "registry.json", expire)  # time passes, as on disk
            with pytest.raises(Unauthorized, match="expired"):
                c.call("whoami")
    finally:
        t.close()


# -- authorisation -------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_every_role_boundary(town: Town, role: str) -> None:
    """Every command a role may not run is refused with E_FORBIDDEN before it runs."""
    with town.client(role) as c:
        for name, cmd in COMMANDS.items():
            if role_allows(role, cmd.role):
                continue
            resp = c.request(name, [0], {})
            assert not resp.ok and resp.error.code == "E_FORBIDDEN", (role, name)
            assert f"needs role {cmd.role}" in resp.error.message


def test_forbidden_commands_do_not_run(town: Town) -> None:
    alive = int(town.world.alive.sum())
    with town.client("viewer") as c, pytest.raises(Forbidden):
        c.call("kill", 1)
    with town.client("operator") as c:
        with pytest.raises(Forbidden):
            c.call("revoke", "viewer1")
        c.call("whoami")
    with town.client("viewer") as c:
        assert c.call("whoami")["role"] == "viewer"  # still valid: revoke never ran
    assert int(town.world.alive.sum()) == alive


# -- error codes ---------------------------------------------------------------------------
def test_usage_unsupported_invalid_notfound(town: Town) -> None:
    with town.client("operator") as c:
        with pytest.raises(UsageError, match="missing argument 'agent'"):
            c.call("agent")
        with pytest.raises(UnknownCommand, match="try 'help'"):
            c.call("make_coffee")
        with pytest.raises(InvalidArgument, match="at 'agent'"):
            c.call("agent", "zero")
        with pytest.raises(NotFound, match="no agent slot"):
            c.call("agent", 10_000)
        with pytest.raises(InvalidArgument):
            c.call("set_need", 0, "thirst", 0.5)


def test_world_error_codes(town: Town) -> None:
    kinds = town.world.view("tile_kind")
    walkable = [TILE.STREET, TILE.FLOOR, TILE.DOOR]
    y, x = (int(v) for v in np.argwhere(~np.isin(kinds, walkable))[0])
    with town.client("operator") as c:
        c.call("pause")
        try:
            with pytest.raises(BusyTarget, match="full"):
                c.call("spawn")  # every slot is taken at the start
            with pytest.raises(BlockedTile):
                c.call("teleport", 2, x=x, y=y)
            with pytest.raises(BlockedTile, match="off the map"):
                c.call("teleport", 2, x=32000, y=32000)
            c.call("possess", 4)
            with pytest.raises(AlreadyPossessed):
                c.call("possess", 4)
            c.call("release", 4)
        finally:
            c.call("resume")


def test_too_large(town: Town) -> None:
    with town.client("viewer") as c:
        resp = c.request("help", [], {"name": "x" * (town.cfg.max_request_bytes + 10)})
        assert resp.error.code == "E_TOO_LARGE"
        assert c.call("whoami")["role"] == "viewer"  # server keeps serving


@pytest.mark.parametrize("frames", [
    [b"\xc1garbage"],
    [msgspec.msgpack.encode({"cmd_id": "m1", "name": 5})],
    [msgspec.msgpack.encode({"cmd_id": "m2", "name": "whoami", "mode": "admin"})],
    [b"part1", b"part2"],
    [b""],
])
def test_malformed_frames_get_usage_errors(town: Town, frames: list[bytes]) -> None:
    s = town.dealer()
    try:
        s.send_multipart(frames)
        resp = recv(s)
        assert not resp.ok and resp.error.code == "E_USAGE"
        s.send(encode(Request(cmd_id="after", name="whoami")))
        after = recv(s)
        assert after.ok and after.cmd_id == "after"
    finally:
        s.close()


def test_usage_error_echoes_salvaged_cmd_id(town: Town) -> None:
    s = town.dealer()
    try:
        s.send(msgspec.msgpack.encode({"cmd_id": "keep-me", "name": "whoami", "args": "x"}))
        resp = recv(s)
        assert resp.cmd_id == "keep-me" and resp.error.code == "E_USAGE"
        assert "$.args" in resp.error.message
    finally:
        s.close()


def test_forbidden_path(town: Town) -> None:
    root = town.server.sandbox.root
    (root / "runs").mkdir(exist_ok=True)
    (root / "runs" / "a.tsnap").write_bytes(b"123")
    with town.client("viewer") as c:
        listing = c.call("files", "runs")
        assert [e["name"] for e in listing["entries"]] == ["a.tsnap"]
        for bad in ("/etc", "../", "runs/../../x", "a\x00b"):
            with pytest.raises(ForbiddenPath):
                c.call("files", bad)
        with pytest.raises(NotFound):
            c.call("files", "nope")


def test_conflict_and_replay(town: Town) -> None:
    with town.client("operator") as c:
        c.call("pause")
        try:
            first = c.request("kill", [7], cmd_id="kill-7")
            assert first.ok
            again = c.request("kill", [7], cmd_id="kill-7")
            assert again == first  # the first result, not E_NOT_FOUND from a second kill
            other = c.request("kill", [8], cmd_id="kill-7")
            assert other.error.code == "E_CONFLICT"
            assert bool(town.world.alive[8])
        finally:
            c.call("resume")


def test_duplicate_while_pending_runs_once(town: Town) -> None:
    s = town.dealer("operator")
    try:
        req = encode(Request(cmd_id="dup-kill-11", name="kill", args=[11]))
        s.send(req)
        s.send(req)
        a, b = recv(s), recv(s)
        assert a == b and a.ok
    finally:
        s.close()


def test_internal_error_is_reported_and_server_survives(tmp_path: Path) -> None:
    def broken(ctx: object, p: NoArgs) -> None:
        """Always fails."""
        raise RuntimeError("boom")

    init_key_dir(tmp_path / "k")
    _, key = issue_key(tmp_path / "k", "v", "viewer")
    cfg = ConsoleConfig(audit_path=str(tmp_path / "audit.jsonl"))
    table = build_table([("broken", "viewer", broken, LOCAL)])
    srv = ConsoleServer(cfg, tmp_path / "k/registry.json", tmp_path / "k/server.key_secret",
                        control=LoopControl(), endpoint="tcp://127.0.0.1:0", table=table)
    with srv, ConsoleClient(srv.endpoint or "", tmp_path / "k/server.key", key, timeout=3) as c:
        for _ in range(2):  # the I/O thread survives and answers again
            with pytest.raises(InternalError, match="broken failed: RuntimeError"):
                c.call("broken")


def test_rate_limited(tmp_path: Path) -> None:
    t = Town(tmp_path, rate_per_s=1.0, burst=3)
    try:
        with t.client("viewer") as c:
            for _ in range(3):
                c.call("whoami")
            with pytest.raises(RateLimited, match="retry in"):
                c.call("whoami")
        with t.client("operator") as c:
            c.call("whoami")  # buckets are per identity
    finally:
        t.close()


def test_busy_when_queue_full_and_every_request_answered(tmp_path: Path) -> None:
    t = Town(tmp_path, queue_size=4, max_per_tick=1, paused=True)
    s = t.dealer()
    try:
        n = 200
        for i in range(n):
            s.send(encode(Request(cmd_id=f"b{i}", name="status")))
        codes = {}
        for _ in range(n):
            r = recv(s)
            codes[r.error.code if r.error else "OK"] = codes.get(
                r.error.code if r.error else "OK", 0) + 1
        assert codes.get("E_BUSY", 0) > 0 and codes.get("OK", 0) > 0
        assert sum(codes.values()) == n
    finally:
        s.close()
        t.close()


# -- load ----------------------------------------------------------------------------------
def test_flood_while_ticking(tmp_path: Path) -> None:
    t = Town(tmp_path, queue_size=64, max_per_tick=8, rate_per_s=1e6, burst=10**6)
    try:
        time.sleep(0.2)
        ticks0 = t.ticks
        answered: list[int] = []

        def flood(role: str) -> None:
            s = t.dealer(role)
            for i in range(400):
                s.send(encode(Request(cmd_id=f"{role}-{i}", name="status")))
            got = 0
            while got < 400 and s.poll(60_000):
                s.recv()
                got += 1
            answered.append(got)
            s.close()

        threads = [threading.Thread(target=flood, args=(r,)) for r in ROLES]
        for th in threads:
            th.start()
        for th in threads:
            th.join(240)  # ends when every answer is in
        assert answered == [400, 400, 400]  # nobody left without an answer
        assert t.ticks > ticks0  # the simulation kept ticking
        h = t.server.health()
        assert h.requests >= 1200
    finally:
        t.close()


def test_client_reconnects_and_resends_same_cmd_id(tmp_path: Path) -> None:
    """A request that times out is resent with the same cmd_id and runs once."""
    t = Town(tmp_path, paused=True)
    t.stop_loop()  # nobody drains: the first attempt times out
    t.world.kill(12)  # compile the kill kernel now, not while the short attempts run
    try:
        answered = threading.Event()

        def late_drain() -> None:
            time.sleep(0.8)  # longer than the first attempt's timeout
            while not answered.is_set():
                t.server.drain(t.world, 16)
                time.sleep(0.005)

        th = threading.Thread(target=late_drain)
        th.start()
        try:
            with t.client("operator", timeout=0.5, retries=3) as c:
                assert c.call("kill", 13) == {"agent": 13, "done": "killed"}
        finally:
            answered.set()
        th.join()
        assert not t.world.alive[13]
        assert t.server.stats["executed"] == 1  # both attempts, one execution
    finally:
        t.server.close()


def test_timeout_without_drain(tmp_path: Path) -> None:
    t = Town(tmp_path)
    t.stop_loop()
    try:
        with t.client("viewer", timeout=0.3, retries=1) as c:
            with pytest.raises(ConsoleTimeout, match="2 attempt"):
                c.call("status")
            assert c.call("whoami")["role"] == "viewer"  # off-tick commands still answer
    finally:
        t.server.close()


# -- audit and health ----------------------------------------------------------------------
def test_audit_log_records_everything_without_secrets(tmp_path: Path) -> None:
    t = Town(tmp_path)
    try:
        with t.client("viewer") as c:
            c.call("whoami")
            with pytest.raises(Forbidden):
                c.call("kill", 3)
            resp = c.request("help", [], {"password": "hunter2", "api_key": "k-123"})
            assert resp.error.code == "E_USAGE"
    finally:
        t.close()
    text = (tmp_path / "audit" / "audit.jsonl").read_text()
    assert "hunter2" not in text and "k-123" not in text
    recs = [json.loads(line) for line in text.splitlines()]
    by_cmd = {(r["command"], r["code"]) for r in recs}
    assert ("whoami", "OK") in by_cmd and ("kill", "E_FORBIDDEN") in by_cmd
    bad = next(r for r in recs if r["command"] == "help")
    assert bad["kwargs"] == {"password": "[redacted]", "api_key": "[redacted]"}
    for r in recs:
        assert r["identity"] == "viewer1" and r["role"] == "viewer" and r["duration_ms"] >= 0


def test_audit_log_rotates(tmp_path: Path) -> None:
    t = Town(tmp_path, audit_max_bytes=4096, audit_backups=2)
    try:
        with t.client("viewer") as c:
            for _ in range(60):
                c.call("whoami")
    finally:
        t.close()
    assert (tmp_path / "audit" / "audit.jsonl.1").exists()


def test_health(town: Town) -> None:
    with town.client("viewer") as c:
        h = c.call("health")
    assert h["ok"] and h["queue_capacity"] == town.cfg.queue_size
    assert h["zap_allowed"] >= 1 and h["registry_error"] is None and h["tick"] >= 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300),
                 st.dictionaries(st.sampled_from(["cmd_id", "name", "args", "kwargs", "x"]),
                                 st.one_of(st.text(max_size=10), st.integers(0, 9),
                                           st.lists(st.integers(0, 9), max_size=3)),
                                 max_size=4).map(msgspec.msgpack.encode)))
def test_fuzzed_frames_always_get_an_answer(town: Town, data: bytes) -> None:
    s = town.dealer()
    try:
        s.send(data)
        resp = recv(s)
        assert resp.ok or resp.error.code in {"E_USAGE", "E_UNSUPPORTED", "E_INVALID_ARG",
                                              "E_NOT_FOUND", "E_FORBIDDEN"}
    finally:
        s.close()


def test_every_error_code_is_produced_by_a_test_here() -> None:
    src = Path(__file__).read_text()
    for code, cls in ERROR_TYPES.items():
        assert code in src or f"raises({cls.__name__}" in src, code
