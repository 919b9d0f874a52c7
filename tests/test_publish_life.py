"""Publisher lifecycle with real processes: stale doorbells, supervision, event delivery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from telemetry_helpers import (
    free_port,
    go,
    load_hashes,
    make_keys,
    metrics,
    no_shm_leak,  # noqa: F401 - autouse fixture
    read_json_line,
    start_publisher,
    start_writer,
    stop,
)

from townlet.client import Subscriber
from townlet.client.console import ConsoleClient
from townlet.frames import shm


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory.mktemp("life"))


def test_killed_run_leaves_nothing_behind_after_the_next_start(keys):
    """kill -9 of writer and publisher leaves a segment and a .bell file; the next cleanup
    removes both and logs each removal."""
    writer, info = start_writer("--agents", "50", "--ticks", "100000", "--rate", "50")
    pub, _ = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                             "--metrics-port", "0")
    bell = shm.doorbell_path(info["ring"])
    assert info["doorbell"] == f"ipc://{bell}" and bell.exists()
    stop(pub, signal.SIGKILL)
    stop(writer, signal.SIGKILL)
    assert bell.exists() and info["ring"] in shm.list_segments()
    with capture_logs() as logs:
        removed = shm.cleanup_stale()
    assert not bell.exists() and info["ring"] not in shm.list_segments()
    assert {info["ring"], str(bell)} <= set(removed)
    logged = {(e["kind"], e.get("name") or e.get("path")) for e in logs
              if e["event"] == "stale_telemetry_removed"}
    assert {("segment", info["ring"]), ("doorbell", str(bell))} <= logged


def _wait(what: str, cond, timeout: float = 60.0, every: float = 0.05):
    """Poll ``cond()`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return value


def _recv_until(sub: Subscriber, what: str, pred, timeout: float = 60.0):
    """Receive until ``pred(update)`` holds (``update`` may be None: nothing within 0.05 s)."""
    deadline = time.monotonic() + timeout
    while not pred(up := sub.recv(0.05)):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
    return up


def _zombie_of(pid: int, parent: int) -> bool:
    """True if ``pid`` is an unreaped child of ``parent``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0] == "Z" and int(fields[1]) == parent


def test_killed_publisher_is_noticed_restarted_and_reported(tmp_path):
    """kill -9 of the publisher `townlet run` spawned: the run reaps and logs it, reports it
    in the console's health and status, restarts it with backoff on the same endpoint, the
    new publisher reports the restart in its metrics and subscribers resynchronise."""
    cport, pport, mport = free_port(), free_port(), free_port()
    (tmp_path / "town.yaml").write_text(
        f"console:\n  endpoint: tcp://127.0.0.1:{cport}\n"
        f"telemetry:\n  endpoint: tcp://127.0.0.1:{pport}\n  metrics_port: {mport}\n"
        "  keyframe_interval: 20\n  health_seconds: 0.2\n  restart_backoff_seconds: 0.2\n")
    log = tmp_path / "run.log"
    with open(log, "wb") as err:
        run = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "town.yaml",
                                "--agents", "100", "--ticks", "100000000", "--json"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err)
    keys = tmp_path / ".townlet" / "keys"
    try:
        client_key = _wait("the run's operator credential",
                           lambda: (keys / "local-operator.key_secret").exists()
                           and keys / "local-operator.key_secret")
        with ConsoleClient(f"tcp://127.0.0.1:{cport}", keys / "server.key", client_key,
                           timeout=20) as con, \
                Subscriber(f"tcp://127.0.0.1:{pport}", keys / "server.key", client_key,
                           rcvhwm=1000) as sub:
            first = _wait("the publisher to start", lambda: (
                h := con.call("health")["services"]["publisher"])["state"] == "up" and h)
            assert first["ok"] and first["restarts"] == 0
            _recv_until(sub, "a keyframe", lambda _: sub.synced)
            old_stream = sub.stream
            os.kill(first["pid"], signal.SIGKILL)
            now = _wait("the restarted publisher", lambda: (
                h := con.call("health")["services"]["publisher"])["state"] == "up"
                and h["restarts"] == 1 and h)
            assert now["pid"] != first["pid"] and now["last_exit"] == "killed by SIGKILL"
            assert con.call("status")["services"]["publisher"] == "up"
            assert con.call("health")["ok"]
            assert not _zombie_of(first["pid"], run.pid), "the dead publisher was reaped"
            _recv_until(sub, "a keyframe of the new stream",
                        lambda _: sub.synced and sub.stream != old_stream)
            assert sub.live
            _recv_until(sub, "health of the new publisher", lambda _: (
                h := sub.last_health) is not None and h.stream == sub.stream and h.restarts == 1)
            assert metrics(mport)["townlet_publish_restarts"] == 1
        run.send_signal(signal.SIGINT)
        run.wait(60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
            shm.cleanup_stale()
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    died = [e for e in events if e.get("event") == "publisher_died"]
    assert died and died[0]["pid"] == first["pid"] and died[0]["exit"] == "killed by SIGKILL"
    assert any(e.get("event") == "publisher_restarted" and e["restarts"] == 1 for e in events)


def test_subscriber_reports_staleness_and_the_end_of_the_stream(keys):
    writer, info = start_writer("--agents", "50", "--ticks", "250", "--rate", "100",
                                "--wait-go", "--hold")
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--metrics-port", "0", "--health-seconds", "0.1")
    try:
        with Subscriber(ready["endpoint"], keys["server"], keys["viewer"], rcvhwm=1000,
                        stale_intervals=3) as sub:
            go(writer)
            _recv_until(sub, "a keyframe", lambda _: sub.synced)
            _recv_until(sub, "a health message", lambda _: sub.last_health is not None)
            assert sub.last_health.health_seconds == 0.1 and sub.live
            pub.send_signal(signal.SIGSTOP)  # alive but silent: a hung publisher
            _recv_until(sub, "the subscriber to notice the silence",
                        lambda up: up is None and not sub.live)
            pub.send_signal(signal.SIGCONT)
            _recv_until(sub, "messages again", lambda up: up is not None and sub.live)
            read_json_line(writer, 60)  # {"done": ...}
            writer.stdin.close()  # --hold: the writer closes its ring now
            end = _recv_until(sub, "the end of the stream",
                              lambda up: up is not None and up.kind == "end")
            assert end.end.reason == "writer_done" and end.end.stream == sub.stream
            assert sub.ended is end.end and not sub.live
            assert end.end.last_seq == sub.seq, "nothing of the stream's tail was lost"
        assert pub.wait(20) == 0
    finally:
        pub.send_signal(signal.SIGCONT)
        stop(pub)
        stop(writer)


def _events_by_tick(updates) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for up in updates:
        for tick, code in zip(up.events["tick"].tolist(), up.events["code"].tolist(),
                              strict=True):
            out.setdefault(tick, []).append(code)
    return out


def _stalled_run(keys, tmp_path, *writer_args: str, stall_ticks: int):
    """A paced writer and its publisher; the publisher is stopped (SIGSTOP) until the
    writer has written ``stall_ticks`` more ticks, so frames are skipped for sure. Returns
    (the subscriber's applied updates, its stats, the writer's per-tick event codes)."""
    hashes = tmp_path / "hashes.jsonl"
    writer, info = start_writer("--agents", "300", "--ticks", "600", "--rate", "300",
                                "--hashes", str(hashes), "--wait-go", "--hold", *writer_args)
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--metrics-port", "0", "--hwm", "100000",
                                 "--keyframe-interval", "1000000")
    try:
        with Subscriber(ready["endpoint"], keys["server"], keys["viewer"],
                        rcvhwm=100000) as sub:
            go(writer)
            first = _recv_until(sub, "a keyframe", lambda up: up is not None and sub.synced)
            updates = [first]
            pub.send_signal(signal.SIGSTOP)
            stopped_at = hashes.read_bytes().count(b"\n")  # ticks written so far
            _wait("the writer to go on",
                  lambda: hashes.read_bytes().count(b"\n") >= stopped_at + stall_ticks)
            pub.send_signal(signal.SIGCONT)
            while sub.tick < 599:
                up = _recv_until(sub, "the last tick", lambda up: up is not None)
                if up.kind in ("key", "delta"):
                    updates.append(up)
            stats = sub.stats
        writer.stdin.close()
        assert writer.wait(30) == 0 and pub.wait(30) == 0
    finally:
        pub.send_signal(signal.SIGCONT)
        stop(pub)
        stop(writer)
    return updates, stats, load_hashes(hashes, "codes")


def test_every_event_of_skipped_frames_arrives(keys, tmp_path):
    """The publisher falls 100 ticks behind a 4-slot ring: every event of every tick after
    the subscriber's first keyframe arrives all the same, and none is counted lost."""
    updates, stats, codes = _stalled_run(keys, tmp_path, stall_ticks=100)
    got = _events_by_tick(updates)
    first = updates[0].tick
    assert any(len(up.events) and (up.events["tick"] != up.tick).any() for up in updates), \
        "frames were skipped and their events arrived with a later frame"
    assert stats.gaps == 0 and stats.events_lost == 0
    want = {t: c for t, c in codes.items() if t >= first and c}
    assert got == want


def test_events_beyond_the_event_log_are_counted_exactly(keys, tmp_path):
    """With a 1,024-event log and a publisher stalled for 300 ticks (~4,600 events), the
    oldest events are lost: every event either arrives or is counted in events_lost."""
    updates, stats, codes = _stalled_run(keys, tmp_path, "--event-log", "1024",
                                         stall_ticks=300)
    got = _events_by_tick(updates)
    first = updates[0].tick
    want = {t: c for t, c in codes.items() if t >= first and c}
    assert stats.gaps == 0 and stats.events_lost > 0
    assert sum(map(len, got.values())) + stats.events_lost == sum(map(len, want.values()))
    for tick, received in got.items():  # what arrived is exact (a lost tick's tail may
        assert received == want[tick][len(want[tick]) - len(received):]  # be cut at the front)


def test_failed_restarts_back_off_and_a_working_one_resets(tmp_path):
    """While restarts fail (the key registry is gone) the delay doubles up to the maximum,
    health says the publisher is down; once the registry is back the next restart works."""
    import msgspec

    from townlet.config import default_config, with_agents
    from townlet.publish import TelemetryHook
    from townlet.sim.loop import Simulation

    keys = make_keys(tmp_path)
    cfg = with_agents(default_config(), 50)
    tel = msgspec.structs.replace(cfg.telemetry, endpoint=f"tcp://127.0.0.1:{free_port()}",
                                  restart_backoff_seconds=0.05, restart_backoff_max_seconds=0.2)
    cfg = msgspec.structs.replace(cfg, telemetry=tel,
                                  keys=msgspec.structs.replace(cfg.keys, dir=str(keys["dir"])))
    sim = Simulation(cfg, seed=0)
    hook = TelemetryHook(sim.world, cfg)
    sim.add_hook(hook)
    registry = keys["dir"] / "registry.json"
    moved = tmp_path / "registry.moved"
    try:
        first = hook.status()
        registry.rename(moved)
        with capture_logs() as logs:
            os.kill(first.pid, signal.SIGKILL)

            def delays():
                sim.step()
                return [e["in_seconds"] for e in logs
                        if e["event"] == "publisher_restart_scheduled"]

            _wait("four scheduled restarts", lambda: len(delays()) >= 4, every=0.01)
            down = hook.status()
            assert not down.ok and down.state in ("down", "starting")
            assert delays()[:4] == [0.05, 0.1, 0.2, 0.2]
            assert any(e["event"] == "publisher_restart_failed" for e in logs)
            moved.rename(registry)
            up = _wait("a working restart",
                       lambda: sim.step() is not None and hook.status().ok and hook.status())
            assert up.restarts == 1 and up.pid != first.pid
            assert up.last_exit.startswith("exit status")
            t_up = time.monotonic()  # the reset rule is about time: up for the longest delay
            _wait("the publisher to stay up past the longest delay",
                  lambda: sim.step() is not None and time.monotonic() - t_up > 0.25, every=0.01)
            os.kill(up.pid, signal.SIGKILL)
            _wait("the next scheduled restart", lambda: len(delays()) >= 5, every=0.01)
            assert delays()[4] == 0.05, "a publisher that stayed up resets the delay"
    finally:
        if moved.exists():
            moved.rename(registry)
        sim.close()
