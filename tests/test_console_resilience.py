"""The console server under misuse and failure, over real CURVE sockets: the replay cache is
per identity, refusals before decoding are audited with the caller, logged exceptions keep
their traceback, and nothing that fails while serving one request stops the I/O thread."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from _keys import DeadlineSocket, key_client
from telemetry_helpers import wait_until

from townlet.client.console import ConsoleClient
from townlet.config.console import ConsoleConfig
from townlet.console.context import CommandContext
from townlet.console.replay import ReplayCache
from townlet.console.server import ConsoleServer
from townlet.console.table import LOCAL, MUTATES, build_table
from townlet.security import init_key_dir, issue_key
from townlet.sim.control import LoopControl
from townlet.wire.console import decode_response


class Count(msgspec.Struct):
    n: int


class BumpArgs(msgspec.Struct, forbid_unknown_fields=True):
    by: int = 1


class Exploding(msgspec.Struct, forbid_unknown_fields=True):
    """Arguments whose construction fails in a way argument binding does not expect."""

    x: int = 0

    def __post_init__(self) -> None:
        raise RuntimeError("boom while binding")


COUNTER = {"n": 0}


def bump(ctx: CommandContext, p: BumpArgs) -> Count:
    """Add to a counter (state-changing: replay-cached by cmd_id)."""
    COUNTER["n"] += p.by
    return Count(COUNTER["n"])


def ping(ctx: CommandContext, p: BumpArgs) -> Count:
    """Answer with the counter."""
    return Count(COUNTER["n"])


def explode(ctx: CommandContext, p: Exploding) -> Count:
    """Never reached: binding its arguments fails."""
    return Count(0)


TABLE = build_table([("bump", "operator", bump, LOCAL, MUTATES),
                     ("ping", "viewer", ping, LOCAL),
                     ("explode", "viewer", explode, LOCAL)])


class Server:
    """A console server without a world (LOCAL commands only) and keys for three roles."""

    def __init__(self, tmp: Path, **cfg: object) -> None:
        self.kdir = tmp / "keys"
        init_key_dir(self.kdir)
        self.keys = {role: issue_key(self.kdir, f"{role}1", role)[1]
                     for role in ("viewer", "operator", "admin")}
        self.audit = tmp / "audit.jsonl"
        opts = {"audit_path": str(self.audit), **cfg}
        self.srv = ConsoleServer(msgspec.structs.replace(ConsoleConfig(), **opts),
                                 self.kdir / "registry.json", self.kdir / "server.key_secret",
                                 control=LoopControl(), endpoint="tcp://127.0.0.1:0",
                                 table=TABLE)
        self.endpoint = self.srv.start()

    def client(self, role: str) -> ConsoleClient:
        return ConsoleClient(self.endpoint, self.kdir / "server.key", self.keys[role],
                             timeout=60.0)  # ends at the reply; a loaded box is slow

    def dealer(self, role: str) -> DeadlineSocket:
        return key_client(self.endpoint, self.kdir, self.keys[role])

    def audit_records(self, until: Callable[[dict], bool]) -> list[dict]:
        """The audit file's records once one satisfies ``until`` (it is flushed by the I/O
        loop, at most one poll interval after the reply)."""
        def ready() -> list[dict] | None:
            if not self.audit.exists():
                return None
            recs = [json.loads(x) for x in self.audit.read_text().splitlines()]
            return recs if any(until(r) for r in recs) else None

        return wait_until(ready, "the audit record appeared", timeout=60, every=0.01)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path, replay_cache_size=16)
    yield s
    s.srv.close()


# -- item 9: the replay cache is partitioned by identity --------------------------------------
def test_one_identitys_burst_cannot_evict_anothers_cmd_id(server: Server) -> None:
    with server.client("admin") as admin, server.client("operator") as op:
        first = admin.request("bump", [], cmd_id="admin-bump-1")
        for i in range(3 * server.srv.cfg.replay_cache_size):
            assert op.request("bump", [], cmd_id=f"op-bump-{i}").ok
        count = COUNTER["n"]
        again = admin.request("bump", [], cmd_id="admin-bump-1")
        assert again == first and COUNTER["n"] == count  # replayed, did not run twice


def test_replay_cache_bounds_entries_and_identities() -> None:
    now = [0.0]
    cache = ReplayCache(capacity=2, ttl_s=10.0, identities=2, clock=lambda: now[0])
    for cid in ("a", "b", "c"):
        cache.add("alice", cid, b"fp")
    assert cache.get("alice", "a") is None and cache.get("alice", "c") is not None
    cache.add("bob", "x", b"fp")
    cache.get("alice", "c")  # alice seen after bob: bob is the least recently seen
    cache.add("carol", "y", b"fp")
    assert cache.get("bob", "x") is None and cache.get("alice", "c") is not None
    assert len(cache) == 3
    now[0] = 11.0
    assert cache.get("alice", "c") is None  # expired


# -- item 11: audit identity, tracebacks in JSON logs, the I/O thread survives ---------------
def test_multi_frame_refusal_is_audited_with_the_callers_identity(server: Server) -> None:
    s = server.dealer("viewer")
    try:
        s.send_multipart([b"one", b"two"])
        assert s.poll(60_000)
        assert decode_response(s.recv()).error.code == "E_USAGE"
    finally:
        s.close()
    recs = server.audit_records(lambda r: r["code"] == "E_USAGE")
    refused = next(r for r in recs if r["code"] == "E_USAGE")
    assert (refused["identity"], refused["role"]) == ("viewer1", "viewer")
    assert refused["key_id"] is not None


def test_exception_escaping_a_handler_does_not_stop_the_io_thread(server: Server) -> None:
    with server.client("viewer") as c:
        for _ in range(2):
            resp = c.request("explode")
            assert resp.error.code == "E_INTERNAL" and "RuntimeError" in resp.error.message
            assert c.call("ping") == {"n": COUNTER["n"]}  # a good request is still answered
    recs = server.audit_records(lambda r: r["code"] == "E_INTERNAL")
    assert any(r["code"] == "E_INTERNAL" and r["identity"] == "viewer1" for r in recs)


def test_audit_disk_failure_does_not_stop_the_io_thread(tmp_path: Path) -> None:
    """/dev/full fails every write with ENOSPC, as a full disk does."""
    s = Server(tmp_path, audit_path="/dev/full")
    try:
        with s.client("viewer") as c:
            assert c.call("ping") == {"n": COUNTER["n"]}
            # The I/O loop flushes the audit after it sent the reply: wait for the failure.
            wait_until(lambda: s.srv.audit.failures >= 1, "the audit write failed", timeout=60)
            for _ in range(2):  # ...and the I/O thread still answers after it
                assert c.call("ping") == {"n": COUNTER["n"]}
        wait_until(lambda: s.srv.audit.failures >= 2, "each later flush fails too",
                   timeout=60)
        assert s.srv.audit.error == "No space left on device"
    finally:
        s.srv.close()


_LOGGED = """
import sys
from pathlib import Path
from townlet.ops.logging import configure_logging
configure_logging(json=True)
sys.path.insert(0, {tests!r})
from test_console_resilience import Server
s = Server(Path({tmp!r}))
try:
    with s.client("viewer") as c:
        assert c.request("explode").error.code == "E_INTERNAL"
        assert c.call("ping") == {{"n": 0}}
finally:
    s.srv.close()
"""


def test_json_logs_keep_the_traceback(tmp_path: Path) -> None:
    code = _LOGGED.format(tests=str(Path(__file__).parent), tmp=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    failed = next(x for x in lines if x["event"] == "console_request_failed")
    assert failed["identity"] == "viewer1" and failed["level"] == "error"
    trace = failed["exception"]
    assert trace.startswith("Traceback (most recent call last):")
    assert "in __post_init__" in trace and trace.endswith("RuntimeError: boom while binding")
