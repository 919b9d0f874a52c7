"""The publisher as a real process: exact rebuilds, auth failures, restarts, stalls, CLI."""

from __future__ import annotations

import json
import signal
import time
from types import SimpleNamespace

import pytest
from telemetry_helpers import (
    free_port,
    go,
    load_hashes,
    make_keys,
    metrics,
    no_shm_leak,  # noqa: F401 - autouse fixture
    read_json_line,
    segment_pid,
    start_publisher,
    start_writer,
    stop,
    townlet,
    wait_until,
)

from townlet.client import Subscriber
from townlet.frames import shm
from townlet.security import issue_key, revoke_keys


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory.mktemp("telemetry"))


def _wait_subscribed(mport: int) -> None:
    """Until the publisher counts a frame subscriber (the subscription has reached it)."""
    wait_until(lambda: metrics(mport)["townlet_publish_subscribers"] >= 1,
               "the subscription reached the publisher")


def _drain(sub: Subscriber, hashes_file, until: float | None = None,
           stop_tick: int | None = None, stall: float = 120.0,
           frames: int | None = None) -> dict:
    """Receive until ``until`` (monotonic), until a frame of ``stop_tick`` or later is
    applied or until ``frames`` frame messages were; verify every applied frame against the
    writer's hashes. Without ``until`` it waits on the stream's progress, not on a budget
    for the whole run: it fails only when no frame message arrived for ``stall`` seconds (a
    loaded box slows the writer and the publisher, it does not stop them)."""
    seen = {"key": 0, "delta": 0, "verified": 0, "last_tick": -1, "applied": []}
    pending = []
    last = time.monotonic()
    while until is None or time.monotonic() < until:
        assert until is not None or time.monotonic() - last < stall, \
            f"no frame message for {stall:g} s after tick {seen['last_tick']}"
        up = sub.recv(0.2)
        if up is None:
            continue
        if up.kind in ("key", "delta"):
            last = time.monotonic()
            seen[up.kind] += 1
            seen["applied"].append((up.kind, up.tick))
            pending.append((up.tick, sub.frame_hash()))
            seen["last_tick"] = up.tick
            if (stop_tick is not None and up.tick >= stop_tick
                    or frames is not None and len(pending) >= frames):
                break
    hashes: dict[int, str] = {}

    def written() -> bool:  # the writer writes a frame's hash just after publishing it
        hashes.update(load_hashes(hashes_file))
        return hashes.keys() >= {tick for tick, _ in pending}

    wait_until(written, "the writer's hashes of the frames received")
    for tick, h in pending:
        assert hashes[tick] == h, f"subscriber frame differs from the simulation's at tick {tick}"
        seen["verified"] += 1
    return seen


def _deltas_past_interval(applied: list[tuple[str, int]], interval: int) -> list[int]:
    """Ticks of deltas sent ``interval`` or more ticks after the last keyframe (the
    publisher sends a keyframe instead)."""
    key_tick, late = None, []
    for kind, tick in applied:
        if kind == "key":
            key_tick = tick
        elif key_tick is None or tick - key_tick >= interval:
            late.append(tick)
    return late


def test_subscriber_rebuilds_every_frame_exactly(keys, tmp_path):
    hashes = tmp_path / "hashes.jsonl"
    writer, info = start_writer("--agents", "2000", "--ticks", "300", "--rate", "150",
                                "--hashes", str(hashes), "--wait-go", "--hold")
    mport = free_port()
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--keyframe-interval", "50", "--metrics-port", str(mport),
                                 "--hwm", "1000")  # no drops even on a busy 2-core machine
    try:
        assert ready["secure"] is True
        with Subscriber(ready["endpoint"], keys["server"], keys["viewer"], rcvhwm=1000) as sub:
            _wait_subscribed(mport)
            go(writer)
            seen = _drain(sub, hashes, stop_tick=299)
            assert seen["last_tick"] == 299
            # a keyframe every 50 ticks: exactly, whatever frames a busy publisher skipped
            assert not _deltas_past_interval(seen["applied"], 50)
            assert seen["key"] >= 2 and seen["delta"] > seen["key"]
            assert seen["verified"] == seen["key"] + seen["delta"]
            assert (sub.stats.gaps, sub.stats.bad_messages) == (0, 0), sub.stats
            assert sub.config_id == "test-config"
        assert read_json_line(writer)["done"] == 300
        m = metrics(mport)
        assert m["townlet_publish_frames_read_total"] >= seen["verified"]
        assert m["townlet_publish_keyframes_sent_total"] >= seen["key"]
        assert m['townlet_publish_bytes_sent_total{kind="delta"}'] > 0
        assert m["townlet_publish_encode_seconds_count"] > 0
        assert m["townlet_publish_handshake_failures_total"] == 0
        assert "townlet_publish_lag_ticks" in m and "townlet_publish_subscribers" in m
        writer.stdin.close()  # the writer closes its ring; the publisher then exits by itself
        assert writer.wait(30) == 0
        assert pub.wait(30) == 0
    finally:
        stop(writer)
        stop(pub)


@pytest.fixture(scope="module")
def served(keys):
    """One writer and publisher for the refused clients' tests (each test's refusal is
    told apart by the handshake-failure count rising)."""
    writer, info = start_writer("--agents", "200", "--ticks", "100000", "--rate", "100")
    mport = free_port()
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--metrics-port", str(mport), "--health-seconds", "0.2")
    try:
        yield SimpleNamespace(endpoint=ready["endpoint"], metric=lambda name: metrics(mport)[name])
    finally:
        stop(writer)
        stop(pub)
        wait_until(lambda: not [s for s in shm.list_segments()
                                if segment_pid(s) in (writer.pid, pub.pid)],
                   "the writer's segments are unlinked", timeout=10)


@pytest.mark.parametrize("who", ["no_key", "unknown", "expired", "revoked"])
def test_unauthenticated_clients_receive_nothing(keys, served, who):
    """Its handshake is refused (counted), and while a valid client beside it receives 20
    messages after that, it receives none."""
    failures = "townlet_publish_handshake_failures_total"
    before = served.metric(failures)
    if who == "no_key":
        bad = Subscriber(served.endpoint, None, None, insecure_dev=True)
    else:
        bad = Subscriber(served.endpoint, keys["server"], keys[who])
    good = Subscriber(served.endpoint, keys["server"], keys["admin"])
    with bad, good:
        def refused() -> bool:
            assert bad.recv(0.05) is None, f"{who} client received a message"
            return served.metric(failures) > before

        wait_until(refused, f"the {who} client's handshake is refused")
        got_good = 0
        while got_good < 20:
            up = good.recv(60)
            assert up is not None, "the valid client receives nothing"
            got_good += 1
            assert bad.recv(0) is None, f"{who} client received a message"
        assert bad.recv(0.05) is None, f"{who} client received a message"


def test_revocation_applies_to_new_connections_without_restart(keys, tmp_path):
    _, keyfile = issue_key(keys["dir"], "shortlived", "viewer")
    writer, info = start_writer("--agents", "100", "--ticks", "100000", "--rate", "100")
    mport = free_port()
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--metrics-port", str(mport))
    try:
        with Subscriber(ready["endpoint"], keys["server"], keyfile) as sub:
            assert sub.recv(5) is not None
        revoke_keys(keys["dir"], "shortlived")

        def refused() -> bool:
            """A new connection with the key fails its handshake and receives nothing
            (the publisher notices the registry change on its own schedule)."""
            failures = metrics(mport)["townlet_publish_handshake_failures_total"]
            with Subscriber(ready["endpoint"], keys["server"], keyfile) as sub:
                if sub.recv(0.5) is not None:
                    return False
                return wait_until(lambda: metrics(mport)[
                    "townlet_publish_handshake_failures_total"] > failures,
                    "the refused handshake is counted")

        wait_until(refused, "the revoked key is refused", timeout=30)
    finally:
        stop(writer)
        stop(pub)


def test_publisher_restart_and_subscriber_recovery(keys, tmp_path):
    hashes = tmp_path / "hashes.jsonl"
    writer, info = start_writer("--agents", "1000", "--ticks", "100000", "--rate", "60",
                                "--hashes", str(hashes))
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    args = ("--key-dir", str(keys["dir"]), "--keyframe-interval", "1000")
    pub, ready = start_publisher(info["ring"], info["doorbell"], *args, endpoint=endpoint)
    try:
        with Subscriber(endpoint, keys["server"], keys["viewer"]) as sub:
            first = _drain(sub, hashes, frames=10)
            assert first["key"] >= 1 and first["verified"] == 10
            stream_a = sub.stream
            assert stop(pub, signal.SIGKILL) == -signal.SIGKILL
            pub, ready = start_publisher(info["ring"], info["doorbell"], *args,
                                         endpoint=endpoint)
            assert ready["stream"] != stream_a
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and sub.stream == stream_a:
                sub.recv(0.2)
            assert sub.stream == ready["stream"] and sub.synced
            after = _drain(sub, hashes, frames=10)
            assert after["verified"] == 10
    finally:
        stop(writer)
        stop(pub)


def test_stalled_subscriber_never_slows_the_simulation(keys, tmp_path):
    """One subscriber stops reading; the writer finishes all its ticks, the publisher drops
    for that subscriber (megabytes of keyframes pile up), and the subscriber later detects
    the gap, reports it and resynchronises from a keyframe."""
    hashes = tmp_path / "hashes.jsonl"
    ticks = 400
    writer, info = start_writer("--agents", "30000", "--ticks", str(ticks), "--churn", "0.6",
                                "--rate", "150", "--hashes", str(hashes), "--wait-go", "--hold")
    mport = free_port()
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--hwm", "2", "--keyframe-interval", "10", "--nice", "0",
                                 "--health-seconds", "0.2", "--metrics-port", str(mport))
    try:
        with Subscriber(ready["endpoint"], keys["server"], keys["viewer"], rcvhwm=1) as sub:
            _wait_subscribed(mport)
            go(writer)
            first = sub.recv(10)
            while first is not None and first.kind == "health":
                first = sub.recv(10)
            assert first is not None and first.kind == "key"
            # stall: read nothing while the simulation runs all its ticks
            done = read_json_line(writer, timeout=120)
            assert done["done"] == ticks
            # resume: the gap is detected, reported upstream, and a keyframe resynchronises
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (sub.stats.gaps and sub.synced
                                                        and sub.tick == ticks - 1):
                sub.recv(0.2)
            assert sub.stats.gaps >= 1 and sub.stats.missed > 0 and sub.stats.resyncs_sent >= 1
            assert sub.synced and sub.tick == ticks - 1
            assert sub.frame_hash() == load_hashes(hashes)[ticks - 1]
        m = metrics(mport)
        assert m["townlet_publish_dropped_messages_total"] > 0
        assert m["townlet_publish_resync_requests_total"] >= 1
    finally:
        stop(writer)
        stop(pub)


def test_late_joiner_of_a_paused_simulation_gets_a_keyframe(keys, tmp_path):
    """No subscriber: the publisher reads nothing; a later subscriber still gets the state."""
    hashes = tmp_path / "hashes.jsonl"
    writer, info = start_writer("--agents", "300", "--ticks", "5", "--hashes", str(hashes),
                                "--hold")
    mport = free_port()
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--metrics-port", str(mport), "--health-seconds", "0.2")
    try:
        assert read_json_line(writer)["done"] == 5
        # each loop of the publisher ships (or not) before it sends health: two more health
        # messages mean at least one whole loop saw the finished ring
        health = metrics(mport)["townlet_publish_health_sent_total"]
        wait_until(lambda: metrics(mport)["townlet_publish_health_sent_total"] >= health + 2,
                   "the publisher went round its loop after the last tick")
        assert metrics(mport)["townlet_publish_frames_read_total"] == 0
        with Subscriber(ready["endpoint"], keys["server"], keys["viewer"], health=False) as sub:
            up = sub.recv(10)
            assert up.kind == "key" and up.tick == 4
            assert sub.frame_hash() == load_hashes(hashes)[4]
            assert metrics(mport)["townlet_publish_subscribers"] == 1
        deadline = time.monotonic() + 5
        while metrics(mport)["townlet_publish_subscribers"] != 0:
            assert time.monotonic() < deadline, "subscriber count never went back to 0"
            time.sleep(0.1)
    finally:
        stop(writer)
        stop(pub)


def test_skipped_frames_still_deliver_their_events(keys, tmp_path):
    """Without doorbells the publisher polls and skips frames; the events of skipped ticks
    still in the ring arrive with the next message, the rest are counted as lost."""
    hashes = tmp_path / "hashes.jsonl"
    writer, info = start_writer("--agents", "2000", "--ticks", "300", "--no-doorbell",
                                "--hashes", str(hashes), "--wait-go", "--hold")
    mport = free_port()
    pub, ready = start_publisher(info["ring"], None, "--key-dir", str(keys["dir"]),
                                 "--metrics-port", str(mport), "--hwm", "1000")
    try:
        with Subscriber(ready["endpoint"], keys["server"], keys["viewer"], rcvhwm=1000,
                        health=False) as sub:
            _wait_subscribed(mport)
            go(writer)
            got: dict[int, list[int]] = {}
            rebuilt = {}
            while sub.tick < 299:
                up = sub.recv(10)
                assert up is not None
                for tick in set(up.events["tick"].tolist()):
                    got[tick] = up.events["code"][up.events["tick"] == tick].tolist()
                if up.kind in ("key", "delta"):
                    rebuilt[up.tick] = sub.frame_hash()
        assert read_json_line(writer)["done"] == 300
        truth = load_hashes(hashes)
        assert all(truth[t] == h for t, h in rebuilt.items())
        codes = load_hashes(hashes, "codes")
        bad = {t: (got[t], codes[t]) for t in got if codes[t] and got[t] != codes[t]}
        assert not bad, f"event rows differ: {list(bad.items())[:3]} of {len(bad)}/{len(got)}"
        m = metrics(mport)
        assert m["townlet_publish_frames_skipped_total"] > 0
        # from the first frame shipped on, every tick's events arrived, with their own frame
        # or a later one that skipped it (from the ring's event log), and none was lost
        with_events = {t for t in codes if codes[t] and t > min(rebuilt)}
        assert with_events <= set(got)
        assert m["townlet_publish_events_lost_total"] == 0
        assert m["townlet_publish_doorbells_total"] == 0
    finally:
        stop(writer)
        stop(pub)


def test_publisher_reports_a_busy_port():
    writer, info = start_writer("--agents", "50", "--ticks", "1", "--hold")
    port = free_port()
    first, _ = start_publisher(info["ring"], None, "--insecure-dev",
                               endpoint=f"tcp://127.0.0.1:{port}")
    try:
        res = townlet("publish", "--ring", info["ring"], "--insecure-dev", "--endpoint",
                      f"tcp://127.0.0.1:{port}")
        assert res.returncode == 1 and f"cannot bind tcp://127.0.0.1:{port}" in res.stderr
    finally:
        stop(first)
        writer.stdin.close()
        writer.wait(20)


def test_insecure_dev_binds_loopback_and_warns():
    writer, info = start_writer("--agents", "100", "--ticks", "100000", "--rate", "50")
    port = free_port()
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--insecure-dev",
                                 endpoint=f"tcp://0.0.0.0:{port}")
    try:
        assert ready["endpoint"] == f"tcp://127.0.0.1:{port}" and ready["secure"] is False
        with Subscriber(ready["endpoint"], None, None, insecure_dev=True) as sub:
            assert sub.recv(5) is not None
    finally:
        stop(writer)
        stop(pub)
        err = pub.stderr.read().decode()
    assert "publisher_insecure_dev" in err and '"level": "warning"' in err


@pytest.mark.parametrize("extra, message", [
    ((), "registry .townlet/keys/registry.json does not"),  # the default key directory
    (("--key-dir", "/nonexistent/keys"), "registry /nonexistent/keys/registry.json does not"),
])
def test_publisher_refuses_to_start_without_keys(extra, message):
    writer, info = start_writer("--agents", "50", "--ticks", "1", "--hold")
    try:
        res = townlet("publish", "--ring", info["ring"], *extra)
        assert res.returncode == 1 and message in res.stderr
        assert res.stdout == ""
    finally:
        writer.stdin.close()
        writer.wait(20)


def test_publisher_reports_a_missing_ring():
    res = townlet("publish", "--ring", "/townlet-0-missing", "--insecure-dev")
    assert res.returncode == 1 and "is the simulation running?" in res.stderr


def test_publisher_exits_when_the_simulation_dies(keys):
    writer, info = start_writer("--agents", "100", "--ticks", "100000", "--rate", "50")
    pub, _ = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]))
    try:
        stop(writer, signal.SIGKILL)
        assert pub.wait(20) == 0
    finally:
        stop(pub)
        shm.cleanup_stale()  # SIGKILL left the segment behind; a next start removes it


def test_spawned_publisher_and_subscribe_cli(keys, tmp_path):
    """The path `townlet run` takes: the writer spawns the publisher; `townlet subscribe` reads."""
    port = free_port()
    cfg = json.dumps({"endpoint": f"tcp://127.0.0.1:{port}", "metrics_port": 0,
                      "keyframe_interval": 20})
    writer, info = start_writer("--agents", "300", "--ticks", "100000", "--rate", "100",
                                "--spawn-publisher", cfg, "--key-dir", str(keys["dir"]))
    try:
        assert info["publisher"]["endpoint"] == f"tcp://127.0.0.1:{port}"
        creds = ("--endpoint", f"tcp://127.0.0.1:{port}", "--server-key", str(keys["server"]),
                 "--client-key", str(keys["viewer"]))
        res = townlet("subscribe", *creds, "--count", "12", "--json")
        assert res.returncode == 0, res.stderr
        lines = [json.loads(x) for x in res.stdout.splitlines()]
        assert len(lines) == 13 and lines[-1]["summary"] is True
        rows = lines[:-1]
        assert {r["kind"] for r in rows} >= {"key", "delta"}
        assert all({"tick", "kind", "bytes", "lag_ticks", "latency_ms"} <= r.keys() for r in rows)
        assert lines[-1]["gaps"] == 0
        human = townlet("subscribe", *creds, "--count", "2")
        assert human.returncode == 0 and "seq=" in human.stdout
    finally:
        stop(writer)
        pid = info.get("publisher_pid")
        if pid:
            _wait_gone(pid)


def _wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and shm.process_starttime(pid) is not None:
        time.sleep(0.05)
    assert shm.process_starttime(pid) is None, f"publisher {pid} outlived its simulation"


def test_subscribe_cli_errors(keys):
    res = townlet("subscribe", "--count", "1")
    assert res.returncode == 1 and "server_key and client_key_file are required" in res.stderr
    res = townlet("subscribe", "--insecure-dev", "--endpoint", f"tcp://127.0.0.1:{free_port()}",
                  "--count", "1", "--timeout", "0.5")
    assert res.returncode == 1 and "no message within 0.5s" in res.stderr
