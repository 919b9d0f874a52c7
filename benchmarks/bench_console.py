"""Console round trip over CURVE on localhost while a town ticks (asv suite + quick runner).

Reports round-trip latency p50/p99 of a tick-executed read command (``status``)
and of an off-tick one (``whoami``), sustained read-only commands/s from client
processes keeping requests in flight, and the simulation's ticks/s while 2,000
read commands/s flow divided by its ticks/s without traffic. Load generators
are separate processes, as real clients are.

Quick run: ``PYTHONPATH=. python benchmarks/bench_console.py``
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgspec
import numpy as np
import structlog

from townlet.client.console import ConsoleClient
from townlet.config import default_config, with_agents
from townlet.config.console import ConsoleConfig
from townlet.console.hook import attach
from townlet.security import init_key_dir, issue_key, parse_ttl
from townlet.sim.loop import Simulation

AGENTS = 1000
# Request logs go to the audit file; keep the benchmark's stdout quiet.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

_LOADGEN = r"""
import sys, time, zmq
from townlet.security import load_keypair, load_public_key
from townlet.wire.console import Request, encode
endpoint, server_key, key, mode, name, amount, seconds = sys.argv[1:8]
amount, seconds = float(amount), float(seconds)
kp = load_keypair(key)
s = zmq.Context.instance().socket(zmq.DEALER)
s.linger = 0
s.curve_serverkey = load_public_key(server_key)
s.curve_publickey, s.curve_secretkey = kp.public, kp.secret
s.connect(endpoint)
s.send(encode(Request(cmd_id="warm", name="whoami")))
s.recv()
print("ready", flush=True)
sys.stdin.readline()
sent = got = 0
t0 = time.perf_counter()
if mode == "paced":  # amount = requests per second, for `seconds`
    while (now := time.perf_counter() - t0) < seconds:
        while sent < int(now * amount):
            s.send(encode(Request(cmd_id=f"p{sent}", name=name)))
            sent += 1
        while s.poll(1):
            s.recv()
            got += 1
else:  # "burst": amount = requests, 64 in flight
    n = int(amount)
    while got < n:
        while sent < n and sent - got < 64:
            s.send(encode(Request(cmd_id=f"b{sent}", name=name)))
            sent += 1
        if not s.poll(10_000):
            raise SystemExit("starved")
        s.recv()
        got += 1
print(got, time.perf_counter() - t0, flush=True)
"""


class _Town:
    """A 1k-agent ``Simulation`` stepping on a thread with the console attached."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
        kdir = self.tmp / "keys"
        init_key_dir(kdir)
        self.kdir = kdir
        self.key = issue_key(kdir, "bench", "viewer", parse_ttl("1h"))[1]
        console = ConsoleConfig(audit_path=str(self.tmp / "audit.jsonl"),
                                rate_per_s=1e6, burst=10**6, queue_size=4096, max_per_tick=256)
        cfg = msgspec.structs.replace(with_agents(default_config(), AGENTS), console=console)
        self.sim = Simulation(cfg, seed=0)
        self.sim.world.step()  # compile before timing
        self.server = attach(self.sim, console, keys_dir=kdir, endpoint="tcp://127.0.0.1:0")
        self.endpoint = self.server.endpoint
        self.ticks = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sim.step()
            self.ticks += 1

    def tick_rate(self, seconds: float) -> float:
        k0, t0 = self.ticks, time.perf_counter()
        time.sleep(seconds)
        return (self.ticks - k0) / (time.perf_counter() - t0)

    def loadgen(self, mode: str, name: str, amount: float, seconds: float = 0.0):
        """Start a client process; it waits for :meth:`go`."""
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOADGEN, self.endpoint, str(self.kdir / "server.key"),
             str(self.key), mode, name, str(amount), str(seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if proc.stdout is None or proc.stdout.readline().strip() != "ready":
            raise RuntimeError("load generator failed to connect")
        return proc

    @staticmethod
    def go(proc: subprocess.Popen) -> None:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()

    @staticmethod
    def finish(proc: subprocess.Popen) -> tuple[int, float]:
        out, _ = proc.communicate(timeout=120)
        got, dt = out.split()
        return int(got), float(dt)

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.sim.close()


def _latencies(town: _Town, name: str, n: int) -> np.ndarray:
    with ConsoleClient(town.endpoint, town.kdir / "server.key", town.key) as c:
        c.call(name)
        out = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter()
            c.call(name)
            out[i] = time.perf_counter() - t0
    return out * 1e6


class ConsoleSuite:
    """asv: console latency and throughput while a 1k-agent town ticks."""

    timeout = 300
    number = 1
    repeat = 1

    def setup(self) -> None:
        self.town = _Town()

    def teardown(self) -> None:
        self.town.close()

    def track_status_p50_us(self) -> float:
        return float(np.percentile(_latencies(self.town, "status", 1000), 50))

    def track_status_p99_us(self) -> float:
        return float(np.percentile(_latencies(self.town, "status", 1000), 99))

    def track_whoami_p50_us(self) -> float:
        return float(np.percentile(_latencies(self.town, "whoami", 1000), 50))

    def track_whoami_p99_us(self) -> float:
        return float(np.percentile(_latencies(self.town, "whoami", 1000), 99))

    def track_status_commands_per_s(self) -> float:
        """Sustained read commands/s: 2 client processes, 64 requests in flight each."""
        procs = [self.town.loadgen("burst", "status", 5000) for _ in range(2)]
        t0 = time.perf_counter()
        for p in procs:
            self.town.go(p)
        total = sum(self.town.finish(p)[0] for p in procs)
        return total / (time.perf_counter() - t0)

    def track_tick_rate_ratio_under_load(self) -> float:
        """ticks/s while 2,000 read commands/s flow, divided by ticks/s without traffic."""
        idle = self.town.tick_rate(3.0)
        proc = self.town.loadgen("paced", "status", 2000.0, 3.6)
        self.town.go(proc)
        time.sleep(0.3)
        busy = self.town.tick_rate(3.0)
        self.town.finish(proc)
        return busy / idle

    track_status_p50_us.unit = track_status_p99_us.unit = "us"  # type: ignore[attr-defined]
    track_whoami_p50_us.unit = track_whoami_p99_us.unit = "us"  # type: ignore[attr-defined]
    track_status_commands_per_s.unit = "commands/s"  # type: ignore[attr-defined]
    track_tick_rate_ratio_under_load.unit = "ratio"  # type: ignore[attr-defined]


if __name__ == "__main__":
    suite = ConsoleSuite()
    suite.setup()
    try:
        results = {}
        for name in sorted(n for n in dir(suite) if n.startswith("track_")):
            results[name] = round(getattr(suite, name)(), 3)
            print(f"{name}: {results[name]}", flush=True)
        print(msgspec.json.encode(results).decode())
    finally:
        suite.teardown()
