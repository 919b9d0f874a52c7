"""`townlet run` as users start it: console and publisher up, keys bootstrapped
securely, a JSON summary, clean shutdown on SIGINT, nothing left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys

import pytest

from townlet.client.console import ConsoleClient

CONFIG = """
world:
  town:
    agents: 60
console:
  endpoint: tcp://127.0.0.1:0
telemetry:
  endpoint: tcp://127.0.0.1:0
  metrics_port: 0
"""


@pytest.fixture()
def workdir(tmp_path):
    (tmp_path / "cfg.yaml").write_text(CONFIG)
    return tmp_path


def _run(workdir, *args, timeout=240):
    return subprocess.run([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml", *args],
                          cwd=workdir, capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_run_serves_console_and_publisher_and_bootstraps_keys(workdir):
    proc = _run(workdir, "--ticks", "300", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["ticks"] == 300 and summary["money_conserved"]
    assert "console: tcp://127.0.0.1:" in proc.stderr
    assert "publisher: tcp://127.0.0.1:" in proc.stderr and "(CURVE)" in proc.stderr
    keys = workdir / ".townlet" / "keys"
    for secret in ("server.key_secret", "local-operator.key_secret"):
        assert stat.S_IMODE((keys / secret).stat().st_mode) == 0o600
        text = (keys / secret).read_text()
        assert text.split("secret-key")[1][:20] not in proc.stderr, "no secret in the logs"
    assert sorted(p.name for p in workdir.iterdir()) == [".townlet", "cfg.yaml"], \
        "runtime state (keys, audit log) goes under .townlet/ only"
    again = _run(workdir, "--ticks", "10", "--json")
    assert again.returncode == 0 and "keys: created" not in again.stderr


def test_same_seed_same_summary_hash(workdir):
    a = json.loads(_run(workdir, "--ticks", "200", "--json", "--seed", "4",
                        "--no-console", "--no-publish").stdout)
    b = json.loads(_run(workdir, "--ticks", "200", "--json", "--seed", "4",
                        "--no-console", "--no-publish").stdout)
    assert a["state_hash"] == b["state_hash"]


def _console_endpoint(proc) -> str:
    """The console endpoint ``townlet run`` reports on stderr once its services are up."""
    for line in proc.stderr:
        m = re.search(r"console: (tcp://127\.0\.0\.1:\d+)", line)
        if m:
            return m.group(1)
    raise AssertionError("townlet run exited before reporting its console endpoint")


def test_ctrl_c_stops_cleanly_with_a_summary(workdir):
    proc = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                             "--ticks", "100000000", "--json"], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        keys = workdir / ".townlet" / "keys"
        with ConsoleClient(_console_endpoint(proc), keys / "server.key",
                           keys / "local-operator.key_secret", timeout=60.0) as console:
            seen = 0
            while seen < 5:  # the run is ticking: wait for it, then interrupt
                seen = console.call("status")["tick"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["interrupted"] and summary["ticks"] >= seen
    assert not [s for s in os.listdir("/dev/shm") if f"townlet-{proc.pid}-" in s]


def test_resume_refuses_paths_outside_the_snapshot_root(workdir):
    proc = _run(workdir, "--resume", "../../etc/passwd", "--no-console", "--no-publish")
    assert proc.returncode == 2
    assert "not allowed" in proc.stderr and "Traceback" not in proc.stderr
