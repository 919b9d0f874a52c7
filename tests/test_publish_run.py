"""`townlet run` spawns the publisher: a subscriber follows the real simulation process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
from telemetry_helpers import free_port, no_shm_leak  # noqa: F401 - autouse fixture

from townlet.client import Subscriber
from townlet.frames import shm
from townlet.sim.services import local_operator_key


def test_townlet_run_publishes_to_subscribers(tmp_path):
    port = free_port()
    (tmp_path / "town.yaml").write_text(
        f"telemetry:\n  endpoint: tcp://127.0.0.1:{port}\n  metrics_port: 0\n"
        "  keyframe_interval: 20\n")
    run = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "town.yaml",
                            "--agents", "200", "--ticks", "1000000", "--no-console", "--json"],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        keys = tmp_path / ".townlet" / "keys"
        deadline = time.monotonic() + 60
        mine = f"/townlet-{run.pid}-"
        while not any(s.startswith(mine) for s in shm.list_segments()):  # services are up
            assert run.poll() is None, run.stderr.read().decode()
            assert time.monotonic() < deadline, "townlet run never created its ring"
            time.sleep(0.1)
        client = local_operator_key(str(keys))  # the credential the first run bootstraps
        with Subscriber(f"tcp://127.0.0.1:{port}", keys / "server.key", client) as sub:
            ticks = []
            while len(ticks) < 30:
                up = sub.recv(20)
                assert up is not None, "no message from the publisher townlet run started"
                if up.kind in ("key", "delta"):
                    ticks.append(up.tick)
                    assert sub.state["n_alive"][0] == np.count_nonzero(sub.state["agent_alive"])
            assert ticks == sorted(ticks) and sub.stats.keyframes >= 1
        run.send_signal(signal.SIGINT)
        assert run.wait(60) == 130  # Ctrl-C: summary, "interrupted", exit 130
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
            shm.cleanup_stale()
    assert not any(s.startswith(f"/townlet-{run.pid}-") for s in shm.list_segments())
