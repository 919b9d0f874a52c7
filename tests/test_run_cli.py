"""`townlet run` as users start it: console and publisher up, keys bootstrapped
securely, a JSON summary, clean shutdown on SIGINT, nothing left behind."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import socket
import stat
import subprocess
import sys

import pytest
from telemetry_helpers import wait_until

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
    assert "compiling the kernel" not in again.stderr, "the compiled kernel is reused"


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


def test_ctrl_c_exits_130_with_a_summary_and_says_interrupted(workdir):
    proc = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                             "--ticks", "100000000", "--json"], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        keys = workdir / ".townlet" / "keys"
        with ConsoleClient(_console_endpoint(proc), keys / "server.key",
                           keys / "local-operator.key_secret", timeout=60.0) as console:
            # the run is ticking: wait for it (polled at a pace the rate limit allows: the
            # front answers status without waiting for the kernel), then interrupt
            seen = wait_until(lambda: (t := console.call("status")["tick"]) >= 5 and t,
                              "five ticks", timeout=240.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("interrupted")
    summary = json.loads(out)
    assert summary["interrupted"] and summary["ticks"] >= seen
    assert not [s for s in os.listdir("/dev/shm") if f"townlet-{proc.pid}-" in s]


def test_resumed_run_says_from_which_snapshot_and_tick(workdir):
    save = subprocess.run([sys.executable, "-m", "townlet", "snapshot", "save", "day", "--config",
                           "cfg.yaml", "--ticks", "7", "--json"], cwd=workdir,
                          capture_output=True, text=True, timeout=240, check=False)
    assert save.returncode == 0, save.stderr
    proc = _run(workdir, "--resume", "day", "--ticks", "3", "--json", "--no-console",
                "--no-publish")
    assert proc.returncode == 0, proc.stderr
    said = re.search(r"resumed from snapshot 'day' \((.+)\) at tick 7,", proc.stderr)
    assert said and os.path.isfile(said.group(1)), proc.stderr
    assert json.loads(proc.stdout)["ticks"] == 3


@pytest.mark.parametrize("service, flag, setting", [
    ("console", "--console-endpoint", "console.endpoint"),
    ("publisher", "--publish-endpoint", "telemetry.endpoint"),
])
def test_port_clash_names_the_setting_and_the_flag(workdir, service, flag, setting):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    endpoint = f"tcp://127.0.0.1:{busy.getsockname()[1]}"
    with busy:
        proc = _run(workdir, flag, endpoint, "--ticks", "1", "--json")
    assert proc.returncode == 2, proc.stderr
    assert f"error: cannot start the {service}" in proc.stderr
    assert setting in proc.stderr and flag in proc.stderr
    assert "Traceback" not in proc.stderr


def test_endpoint_flags_choose_where_services_listen(workdir):
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    proc = _run(workdir, "--console-endpoint", f"tcp://127.0.0.1:{ports[0]}",
                "--publish-endpoint", f"tcp://127.0.0.1:{ports[1]}", "--ticks", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert f"console: tcp://127.0.0.1:{ports[0]}" in proc.stderr
    assert f"publisher: tcp://127.0.0.1:{ports[1]}" in proc.stderr
    bad = _run(workdir, "--console-endpoint", "udp://x", "--ticks", "1")
    assert bad.returncode == 2 and "--console-endpoint: console.endpoint" in bad.stderr


def test_resume_refuses_paths_outside_the_snapshot_root(workdir):
    proc = _run(workdir, "--resume", "../../etc/passwd", "--no-console", "--no-publish")
    assert proc.returncode == 2
    assert "not allowed" in proc.stderr and "Traceback" not in proc.stderr


def _first_run(workdir, **popen):
    """`townlet run` with an empty kernel cache, so it has to compile first."""
    env = {**os.environ, "NUMBA_CACHE_DIR": os.fspath(workdir / "numba")}
    return subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                             "--no-console", "--no-publish"], cwd=workdir, env=env, **popen)


def test_first_run_says_it_is_compiling(workdir):
    proc = _first_run(workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
    finally:
        proc.kill()
        proc.communicate()
    note = json.loads(line)  # not a terminal: the note is a JSON log record like the rest
    assert note["event"] == "compiling_kernel"
    assert note["detail"].startswith("compiling the kernel (first run only")


def test_first_run_on_a_terminal_shows_a_spinner(workdir):
    leader, follower = pty.openpty()
    proc = _first_run(workdir, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    try:
        while b"compiling the kernel (first run only" not in seen:
            chunk = os.read(leader, 4096)  # EOF (OSError) only if the run ends without it
            seen += chunk
    finally:
        proc.kill()
        proc.wait()
        os.close(leader)
    frames = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
    assert frames & set(seen.decode(errors="replace")), "a spinner frame is drawn"


def test_ctrl_c_while_compiling_exits_130_at_once(workdir):
    proc = _first_run(workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stderr.readline())["event"] == "compiling_kernel"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("interrupted") and "Traceback" not in err
