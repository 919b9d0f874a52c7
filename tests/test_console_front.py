"""The console front process (how `townlet run` serves the console): real processes, real
sockets. The simulation runs no console thread; killing the front loses no audited answer
and the run restarts it; killing the simulation takes the front with it; garbage on either
socket is refused with a clear error and nobody dies; a hostile client stalls nobody;
expired and revoked credentials are still refused."""

from __future__ import annotations

import mmap
import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
import zmq
from _console import Town
from _keys import curve_client
from telemetry_helpers import wait_until

from townlet.client.console import ConsoleClient
from townlet.client.errors import HandshakeRefused, Unauthorized
from townlet.config import default_config, with_agents
from townlet.config.console import ConsoleConfig
from townlet.console.link import (
    SUMMARY_FILE,
    Batch,
    BatchReply,
    ConsoleLink,
    LinkError,
    LinkResult,
    link_endpoint,
)
from townlet.console.summary import _SEQ, Slow, SummaryReader, SummaryWriter
from townlet.front.process import CONFIG_FILE
from townlet.publish.spawn import wait_ready
from townlet.publish.supervise import PublisherStatus
from townlet.security import (
    init_key_dir,
    issue_key,
    parse_ttl,
    revoke_keys,
)
from townlet.security.registry import RegistryDoc, update_registry, utcnow
from townlet.sim.loop import Simulation
from townlet.sim.services import start_services
from townlet.wire.console import Request, Response, decode_response, encode


@pytest.fixture
def town(tmp_path: Path):
    t = Town(tmp_path, front=True)
    yield t
    t.close()


def _audited(town: Town) -> dict[str, str]:
    """cmd_id -> result code of every line the front wrote to the audit file."""
    path = Path(town.cfg.audit_path)
    lines = path.read_bytes().splitlines() if path.exists() else []
    return {r["cmd_id"]: r["code"] for r in map(msgspec.json.decode, lines)}


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_townlet_run_serves_the_console_from_a_front_process(tmp_path: Path) -> None:
    """The services `townlet run` starts: no console thread in the simulation process
    (nothing there contends with the tick for the GIL); the front answers."""
    cfg = with_agents(default_config(), 40)
    cfg = msgspec.structs.replace(cfg, console=msgspec.structs.replace(
        cfg.console, endpoint="tcp://127.0.0.1:0", audit_path=str(tmp_path / "audit.jsonl")),
        keys=msgspec.structs.replace(cfg.keys, dir=str(tmp_path / "keys")),
        snapshots=msgspec.structs.replace(cfg.snapshots, root=str(tmp_path / "snaps")))
    sim = Simulation(cfg, seed=0)
    before = {t.name for t in threading.enumerate()}
    try:
        start_services(sim, cfg, console=True, publish=False)
        assert isinstance(sim.console, ConsoleLink)
        assert {t.name for t in threading.enumerate()} == before, "no thread in the sim"
        assert sim.console.run_dir.stat().st_mode & 0o777 == 0o700
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                sim.step()

        ticker = threading.Thread(target=loop, daemon=True)
        ticker.start()
        key = tmp_path / "keys" / "local-operator.key_secret"
        assert sim.console.endpoint is not None
        with ConsoleClient(sim.console.endpoint, tmp_path / "keys" / "server.key", key,
                           timeout=60) as c:
            assert c.call("pause")["paused"]
            tick = c.call("status")["tick"]
            c.call("step", 2)
            assert wait_until(lambda: c.call("status")["tick"] == tick + 2, "two steps")
            assert c.call("health")["services"]["console"]["state"] == "up"
        stop.set()
        ticker.join()
    finally:
        sim.close()
    assert not sim.console.run_dir.exists()


def test_front_killed_restarts_and_no_acknowledged_command_is_unaudited(town: Town) -> None:
    sup = town.front.supervisor
    first = sup.proc.pid
    acked = []
    with town.client("operator") as c:
        for i in range(30):
            resp = c.request("speed", [0], cmd_id=f"ack-{i}")
            assert resp.ok
            acked.append(f"ack-{i}")
        once = c.request("speed", [0], cmd_id="once")
        os.kill(first, signal.SIGKILL)
        audited = _audited(town)  # read after the kill: nothing can be added any more
        assert all(audited.get(cid) == "OK" for cid in acked), "an acknowledged reply " \
            "whose audit line is missing"
        ticks = town.ticks
        wait_until(lambda: sup.state == "up" and sup.proc.pid != first, "a new front")
        wait_until(lambda: town.ticks > ticks + 10, "the town ticks on")
        assert sup.restarts == 1 and sup.last_exit == "killed by SIGKILL"
        # the same client reconnects to the same endpoint; commands work again
        assert c.call("whoami")["identity"] == "operator1"
        assert c.request("speed", [0], cmd_id="after").ok
        # a retry through the new front gets the first result; the command ran once
        again = c.request("speed", [0], cmd_id="once")
        assert again.ok and again.tick == once.tick < town.ticks
        conflict = c.request("speed", [5], cmd_id="once")
        assert conflict.error is not None and conflict.error.code == "E_CONFLICT"
        assert c.call("health")["services"]["console"]["restarts"] == 1
    assert _audited(town)["after"] == "OK"


def test_simulation_killed_takes_its_front_along(tmp_path: Path) -> None:
    (tmp_path / "cfg.yaml").write_text(
        'world: {town: {agents: 40}}\nconsole: {endpoint: "tcp://127.0.0.1:0"}\n')
    sim = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                            "--no-publish", "--ticks", "100000000"], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert sim.stdout is not None
        endpoint = next(line.split()[1] for line in sim.stdout if line.startswith("console: "))
        keys = tmp_path / ".townlet" / "keys"
        with ConsoleClient(endpoint, keys / "server.key", keys / "local-operator.key_secret",
                           timeout=300) as c:
            front = wait_until(lambda: c.call("health")["services"].get("console"),
                               "the first summary (after the kernel loads)", timeout=300)["pid"]
        assert _alive(front)
        sim.kill()
        sim.wait()
        wait_until(lambda: not _alive(front), "the front exits with its simulation")
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()


def test_garbage_on_the_link_is_refused_and_both_survive(town: Town) -> None:
    s = curve_client(zmq.Context.instance(), link_endpoint(town.front.link.run_dir), b"", None)
    dec = msgspec.msgpack.Decoder(LinkError)
    s.send(b"\x00\xffnot msgpack")
    assert s.poll(60_000)
    assert "not a batch of console requests" in dec.decode(s.recv()).message
    s.send_multipart([b"one", b"two"])
    assert s.poll(60_000)
    assert "expected one frame" in dec.decode(s.recv()).message
    s.close()
    assert town.front.link.bad_messages == 2
    ticks = town.ticks
    wait_until(lambda: town.ticks > ticks, "the town ticks on")
    with town.client("operator") as c:
        assert c.call("pause")["paused"]  # runs on the simulation, through the link
    assert town.front.supervisor.restarts == 0


def test_garbage_on_the_public_socket_is_refused_and_the_front_survives(town: Town) -> None:
    host, port = town.endpoint.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(os.urandom(4096))  # not even ZMTP
    s = town.dealer()
    s.send(b"\xc1 not msgpack")
    assert s.poll(60_000)
    resp = decode_response(s.recv())
    assert not resp.ok and resp.error is not None and resp.error.code == "E_USAGE"
    s.send_multipart([encode(Request(cmd_id="two", name="whoami")), b"extra"])
    assert s.poll(60_000)
    resp = decode_response(s.recv())
    assert resp.error is not None and resp.error.code == "E_USAGE"
    s.close()
    pid = town.front.supervisor.proc.pid
    with town.client() as c:
        assert c.call("status")["population"] > 0
    assert town.front.supervisor.proc.pid == pid and town.front.supervisor.restarts == 0


def test_a_hostile_client_stalls_nobody(town: Town) -> None:
    hostile = town.dealer(key=issue_key(town.kdir, "mallory", "viewer", parse_ttl("1h"))[1])
    flood = encode(Request(cmd_id="flood", name="agents"))
    for _ in range(3000):  # never reads a reply: beyond its rate it is refused, not queued
        hostile.send(flood)
    results: dict[str, int] = {}

    def work(role: str) -> None:
        with town.client(role) as c:
            for _ in range(10):
                assert c.call("status")["tick"] >= 0
                assert c.call("whoami")["role"] == role
            results[role] = 10

    workers = [threading.Thread(target=work, args=(r,)) for r in ("operator", "admin")]
    for w in workers:
        w.start()
    work("viewer")
    for w in workers:
        w.join()
    hostile.close()
    assert results == {"viewer": 10, "operator": 10, "admin": 10}


def test_expired_and_revoked_credentials_are_refused_by_the_front(town: Town) -> None:
    _, old = issue_key(town.kdir, "old", "admin", parse_ttl("1m"),
                       now=utcnow() - timedelta(hours=1))
    with (ConsoleClient(town.endpoint, town.kdir / "server.key", old, timeout=30) as c,
          pytest.raises(HandshakeRefused)):
        c.call("whoami")
    rec, fay = issue_key(town.kdir, "fay", "viewer", parse_ttl("1h"))
    _, eve = issue_key(town.kdir, "eve", "operator", parse_ttl("1h"))
    with (ConsoleClient(town.endpoint, town.kdir / "server.key", fay, timeout=60) as f,
          ConsoleClient(town.endpoint, town.kdir / "server.key", eve, timeout=60) as e):
        assert f.call("status")["tick"] >= 0 and e.call("pause")["paused"]

        def expire(doc: RegistryDoc) -> RegistryDoc:
            past = utcnow() - timedelta(seconds=1)
            return RegistryDoc(doc.version, [msgspec.structs.replace(r, expires_at=past)
                                             if r.key_id == rec.key_id else r
                                             for r in doc.keys])

        update_registry(town.kdir / "registry.json", expire)
        with pytest.raises(Unauthorized, match="expired"):
            f.call("status")
        revoke_keys(town.kdir, "eve")
        with pytest.raises(Unauthorized, match="revoked"):
            e.call("resume")  # a command the simulation would run: refused before it
    assert _audited(town) != {}


def _stall_mid_write(summary: SummaryWriter) -> None:
    """Leave ``summary`` as a writer descheduled between its first and last store leaves
    it: the sequence counter odd (the next ``write`` completes it)."""
    with open(summary.path, "r+b") as f:
        mm = mmap.mmap(f.fileno(), _SEQ.size)
        _SEQ.pack_into(mm, 0, _SEQ.unpack_from(mm, 0)[0] + 1)
        mm.close()


def test_a_summary_read_mid_write_gives_the_last_consistent_copy(tmp_path: Path) -> None:
    """Old reader: None once the writer stayed mid-write through its spin, as if the
    simulation had never reported."""
    summary = SummaryWriter(tmp_path / SUMMARY_FILE)
    reader = SummaryReader(tmp_path / SUMMARY_FILE)
    try:
        assert reader.read() is None  # nothing written yet
        _stall_mid_write(summary)
        assert reader.read() is None  # nor completed: still nothing to report
        summary.write(7, 8, True, 2.0, 3.0, Slow(capacity=8, config_id="x"))
        first = reader.read()
        assert first is not None and first.tick == 7 and first.paused
        _stall_mid_write(summary)
        assert reader.read() == first
        summary.write(9, 8, False, 2.0, 3.0)
        later = reader.read()
        assert later is not None and later.tick == 9 and later.slow == first.slow
    finally:
        reader.close()
        summary.close()


def _lone_front_dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A key directory with one operator key (returned) and a run directory holding a
    console config, for a front process started without a simulation."""
    kdir = tmp_path / "keys"
    init_key_dir(kdir)
    _, operator = issue_key(kdir, "operator1", "operator", parse_ttl("1h"))
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    (run / CONFIG_FILE).write_bytes(msgspec.json.encode(ConsoleConfig(
        endpoint="tcp://127.0.0.1:0", audit_path=str(tmp_path / "audit.jsonl"))))
    return kdir, operator, run


def _start_front(run: Path, kdir: Path) -> subprocess.Popen[bytes]:
    """A console front process over ``run`` (its simulation: this test process)."""
    return subprocess.Popen([sys.executable, "-m", "townlet", "console-front", "--run-dir",
                             str(run), "--parent-pid", str(os.getpid()), "--key-dir",
                             str(kdir)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def test_health_names_the_publisher_while_the_simulation_is_mid_write(tmp_path: Path) -> None:
    """A real front process over a summary whose writer stalls in the middle of a write
    (descheduled on a loaded box). Old front: its reader gave up after ~20 ms and
    ``health`` answered with no service at all (``KeyError: 'publisher'`` in
    test_killed_publisher_is_noticed_restarted_and_reported) and ``status`` with
    E_BUSY. Now both answer from the last consistent summary."""
    restarting = msgspec.to_builtins(PublisherStatus(
        ok=False, state="down", pid=None, endpoint=None, restarts=0,
        last_exit="killed by SIGKILL", down_seconds=0.1))
    kdir, operator, run = _lone_front_dirs(tmp_path)
    summary = SummaryWriter(run / SUMMARY_FILE)
    summary.write(7, 8, False, 0.0, 0.0, Slow(capacity=8, config_id="x",
                                              services={"publisher": restarting}))
    front = _start_front(run, kdir)
    try:
        ready = wait_ready(front, 120, "console front")
        with ConsoleClient(ready["endpoint"], kdir / "server.key", operator, timeout=60) as c:
            assert c.call("health")["services"] == {"publisher": restarting}
            _stall_mid_write(summary)
            health = c.call("health")
            assert health["services"] == {"publisher": restarting} and health["tick"] == 7
            assert not health["ok"]
            assert c.call("status")["services"] == {"publisher": "down"}
            summary.write(8, 8, False, 0.0, 0.0)
            assert c.call("health")["tick"] == 8
    finally:
        front.terminate()
        assert front.wait(60) == 0
        summary.close()


def test_garbage_from_the_link_fails_only_that_batch(tmp_path: Path) -> None:
    """A real front process against a stand-in simulation that answers one batch with
    garbage: that request gets a clear E_INTERNAL, the front serves the next one."""
    kdir, operator, run = _lone_front_dirs(tmp_path)
    summary = SummaryWriter(run / SUMMARY_FILE)
    summary.write(7, 8, False, 0.0, 0.0, Slow(capacity=8, config_id="x"))
    sim = zmq.Context.instance().socket(zmq.ROUTER)
    sim.linger = 0
    sim.bind(link_endpoint(run))
    front = _start_front(run, kdir)
    try:
        ready = wait_ready(front, 120, "console front")
        with ConsoleClient(ready["endpoint"], kdir / "server.key", operator, timeout=60) as c:
            got: dict[str, object] = {}
            waiter = threading.Thread(target=lambda: got.update(r=c.request("pause")))
            waiter.start()
            assert sim.poll(60_000)
            rid, body = sim.recv_multipart()
            assert msgspec.msgpack.decode(body, type=Batch).items[0].request.name == "pause"
            sim.send_multipart([rid, b"\xc1\xc1 not a reply"])
            waiter.join()
            resp = got["r"]
            assert isinstance(resp, Response) and resp.error is not None
            assert resp.error.code == "E_INTERNAL"
            assert "unreadable reply from the simulation" in resp.error.message
            assert c.call("status")["tick"] == 7  # answered from the summary
            waiter = threading.Thread(target=lambda: got.update(r=c.request("resume")))
            waiter.start()
            assert sim.poll(60_000)
            rid, body = sim.recv_multipart()
            item = msgspec.msgpack.decode(body, type=Batch).items[0]
            ok = encode(Response(cmd_id=item.request.cmd_id, ok=True, result={"paused": False},
                                 tick=7))
            sim.send_multipart([rid, msgspec.msgpack.encode(
                BatchReply([LinkResult(item.n, ok, "OK", None, 7)]))])
            waiter.join()
            resp = got["r"]
            assert isinstance(resp, Response) and resp.ok and resp.result == {"paused": False}
        assert front.poll() is None
    finally:
        front.terminate()
        assert front.wait(60) == 0
        sim.close()
        summary.close()
