"""One real `townlet run` with console, publisher, autosave and the ops endpoint: every
log line of both processes is JSON with the context keys, the metrics documented in
docs/ops/metrics.md are the ones served, health covers every subsystem, the probes
answer, and SIGTERM ends it with a final snapshot, exit 0 and nothing left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from telemetry_helpers import free_port, metrics, wait_until

from townlet.client.console import ConsoleClient
from townlet.client.errors import ConsoleError
from townlet.client.subscriber import Subscriber
from townlet.config import config_id, load_config
from townlet.ops.logging import CONTEXT_KEYS
from townlet.security import issue_key

ROOT = Path(__file__).resolve().parent.parent
METRICS_DOC = ROOT / "docs" / "ops" / "metrics.md"


def _probe(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def documented_metrics(section: str) -> set[str]:
    """Metric names in the table under ``## <section>`` of docs/ops/metrics.md."""
    text = METRICS_DOC.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(townlet_[a-z_]+)`", text, re.MULTILINE))


def served_metrics(port: int) -> set[str]:
    """Metric family names an exporter serves (``_total``/``_bucket``... folded)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {line.split()[2].removesuffix("_total") for line in text.splitlines()
            if line.startswith("# TYPE townlet_")}


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    """A running town; yields what the tests need, then stops it with SIGTERM."""
    work = tmp_path_factory.mktemp("ops-run")
    sim_port, pub_port, front_port = free_port(), free_port(), free_port()
    (work / "cfg.yaml").write_text(f"""
world: {{town: {{agents: 60}}}}
console: {{endpoint: "tcp://127.0.0.1:0", metrics_port: {front_port}}}
telemetry: {{endpoint: "tcp://127.0.0.1:{free_port()}", metrics_port: {pub_port}}}
snapshots: {{autosave_every: 40}}
ops: {{http_port: {sim_port}, snapshot_on_stop: true}}
""")
    proc = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                             "--ticks", "100000000"], cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    notes = []
    for line in proc.stdout:  # service notes go to stdout, before the first tick
        notes.append(line)
        if line.startswith("metrics: "):
            break
    text = "".join(notes)
    console = re.search(r"console: (tcp://127\.0\.0\.1:\d+)", text)
    publisher = re.search(r"publisher: (tcp://127\.0\.0\.1:\d+)", text)
    assert console and publisher, text
    state = {"proc": proc, "work": work, "sim_port": sim_port, "pub_port": pub_port,
             "front_port": front_port,
             "console": console.group(1), "publisher": publisher.group(1),
             "keys": work / ".townlet" / "keys",
             "config_id": config_id(load_config(work / "cfg.yaml"))}
    try:
        yield state
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _operator(town) -> ConsoleClient:
    keys = town["keys"]
    return ConsoleClient(town["console"], keys / "server.key",
                         keys / "local-operator.key_secret", timeout=300.0)


def test_health_metrics_probes_logs_and_a_clean_sigterm(town):
    keys = town["keys"]
    with _operator(town) as op:
        wait_until(lambda: op.call("status")["tick"] >= 45, "the town ticks past an autosave",
                   timeout=400)  # the first tick may compile the kernel
        health = op.call("health")
        with pytest.raises(ConsoleError):
            op.call("no_such_command")
    services = health["services"]
    assert {"town", "autosave", "publisher", "console"} <= set(services), services
    assert services["town"]["state"] == "running" and services["town"]["population"] > 0
    assert {"perturbations_active", "perturbations_pending", "queue_waiting",
            "exit_queue"} <= set(services["town"])
    assert services["publisher"]["ok"] and services["autosave"]["ok"]
    assert services["console"]["ok"] and services["console"]["state"] == "up"
    assert health["ok"] and health["queue_capacity"] > 0
    wait_until(lambda: op_status_saved(town), "an autosave is written", timeout=60)

    _, viewer = issue_key(keys, "viewer1", "viewer", timedelta(hours=1))
    with (ConsoleClient(town["console"], keys / "server.key", viewer, timeout=300.0) as v,
          pytest.raises(ConsoleError) as refused):
        v.call("pause")
    assert refused.value.code == "E_FORBIDDEN"

    with Subscriber(town["publisher"], keys / "server.key",
                    keys / "local-operator.key_secret") as sub:
        wait_until(lambda: (sub.recv(0.5) or True) and sub.synced, "a keyframe", timeout=60)

    m = metrics(town["sim_port"]) | metrics(town["front_port"])
    assert m["townlet_sim_ticks_total"] >= 45
    assert m["townlet_sim_tick_seconds_count"] == m["townlet_sim_ticks_total"]
    assert m["townlet_sim_population"] > 0
    assert m['townlet_console_requests_total{command="status",result="OK"}'] >= 1
    assert m['townlet_console_requests_total{command="unknown",result="E_UNSUPPORTED"}'] == 1
    assert m['townlet_console_auth_failures_total{reason="role"}'] == 1
    assert m["townlet_sim_autosave_seconds_count"] >= 1
    assert documented_metrics("Simulation") == served_metrics(town["sim_port"])
    assert documented_metrics("Console front") == served_metrics(town["front_port"])
    assert documented_metrics("Publisher") == served_metrics(town["pub_port"])
    for port in (town["sim_port"], town["front_port"], town["pub_port"]):
        assert _probe(port, "/livez")[0] == 200
        assert _probe(port, "/readyz")[0] == 200, _probe(port, "/readyz")
        assert _probe(port, "/nothing-here")[0] == 404

    proc = town["proc"]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "Run summary" in out
    snaps = list((town["work"] / ".townlet" / "snapshots").glob("stop-*.tsnap"))
    assert len(snaps) == 1, "the final snapshot is written on SIGTERM"
    assert not [s for s in os.listdir("/dev/shm") if f"townlet-{proc.pid}-" in s]
    assert not list(Path(tempfile.gettempdir()).glob(f"townlet-{proc.pid}-*.bell")), \
        "the doorbell socket file is removed"

    not_json = [line for line in err.splitlines() if not line.startswith("{")]
    assert not not_json, not_json
    records = [json.loads(line) for line in err.splitlines()]  # every line is JSON
    for r in records:
        missing = set(CONTEXT_KEYS) - set(r)
        assert not missing, (missing, r)
    roles = {r["role"] for r in records}
    assert roles == {"simulation", "publisher", "console"}, roles
    sim_lines = [r for r in records if r["role"] == "simulation"]
    assert {r["config_id"] for r in records} == {town["config_id"]}, \
        "every process logs the simulation's config_id"
    assert any(isinstance(r["tick"], int) and r["tick"] > 0 for r in sim_lines)
    refusals = [r for r in records if r["event"] == "console_request" and r.get("code") != "OK"]
    assert {r["identity"] for r in refusals} >= {"local-operator", "viewer1"}
    assert any(r["event"] == "stopped" for r in sim_lines)
    assert any(r["event"] == "stop_snapshot_saved" for r in sim_lines)


def op_status_saved(town) -> bool:
    with _operator(town) as op:
        return op.call("health")["services"]["autosave"]["saved"] >= 1

