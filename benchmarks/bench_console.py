"""Console round trip over CURVE on localhost while a town ticks (asv suite + quick runner).

Reports round-trip latency p50/p99 of a tick-executed read command (``status``)
and of an off-tick one (``whoami``), sustained read-only commands/s from client
processes keeping requests in flight, and the simulation's ticks/s while 2,000
read commands/s flow divided by its ticks/s without traffic, and the same ratio of
the process's CPU per tick (idle and busy windows of 0.25 s alternate, so both hold
on a machine whose load drifts). Load generators are separate processes, as real
clients are.

The console is served as ``townlet run`` serves it, by a front process beside the
simulation (:mod:`townlet.front`); ``--embedded`` measures the in-process server instead,
and ``--ratio N --ab`` alternates both, N rounds, in one run (A/B on the same machine).

Quick run: ``PYTHONPATH=. python benchmarks/bench_console.py`` (every figure) or
``... bench_console.py --ratio [N]`` (only the tick-rate ratio, N times)
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
from townlet.front.supervise import start_front
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
elif mode == "alternate":  # amount = requests per second in odd windows of `seconds`
    windows = int(sys.argv[8])
    busy = 0.0  # seconds spent in busy windows so far
    while (now := time.perf_counter() - t0) < windows * seconds:
        k, into = divmod(now, seconds)
        if int(k) % 2:
            while sent < int((busy + into) * amount):
                s.send(encode(Request(cmd_id=f"a{sent}", name=name)))
                sent += 1
        else:
            busy = (k // 2) * seconds
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
    """A 1k-agent ``Simulation`` stepping on a thread with the console served by a front
    process (or, ``embedded``, by a server in this process)."""

    def __init__(self, embedded: bool = False) -> None:
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
        if embedded:
            self.endpoint = attach(self.sim, console, keys_dir=kdir,
                                   endpoint="tcp://127.0.0.1:0").endpoint
        else:
            front = start_front(self.sim, console, keys_dir=str(kdir), backoff=cfg.telemetry,
                                endpoint="tcp://127.0.0.1:0")
            assert front.link.endpoint is not None
            self.endpoint = front.link.endpoint
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

    def ratio_under_load(self, rate: float = 2000.0, window: float = 0.25,
                         windows: int = 41) -> tuple[float, float]:
        """(ticks/s ratio, CPU-per-tick ratio) while ``rate`` commands/s flow.

        One load generator alternates idle and busy windows; each busy window is compared
        with the mean of the idle windows either side, so a machine whose load drifts
        (other processes) is compared with itself a fraction of a second apart; the median
        over busy windows is reported. The first figure is ticks/s busy / idle. The second,
        the process's CPU per tick idle / busy (every thread of the simulation process:
        tick, ZeroMQ, and with an embedded server its I/O and ZAP threads), is the
        load-robust proxy: on a busy machine the
        scheduler, not the console, decides much of the wall-clock rate.
        """
        proc = self.loadgen("alternate", "status", rate, window, windows)
        ticks, cpu = [], []
        self.go(proc)
        t0 = time.perf_counter()
        for k in range(1, windows + 1):
            ticks.append(self.ticks)
            cpu.append(time.process_time())
            time.sleep(max(0.0, t0 + k * window - time.perf_counter()))
        ticks.append(self.ticks)
        cpu.append(time.process_time())
        self.finish(proc)
        n = np.diff(ticks).astype(float)
        per_tick = np.diff(cpu) / np.maximum(n, 1.0)

        def busy_over_idle(x: np.ndarray) -> float:
            return float(np.median(x[1:-1:2] / ((x[0:-2:2] + x[2::2]) / 2)))

        return busy_over_idle(n), 1.0 / busy_over_idle(per_tick)

    def loadgen(self, mode: str, name: str, amount: float, seconds: float = 0.0,
                windows: int = 0):
        """Start a client process; it waits for :meth:`go`."""
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOADGEN, self.endpoint, str(self.kdir / "server.key"),
             str(self.key), mode, name, str(amount), str(seconds), str(windows)],
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

    embedded = False

    def setup(self) -> None:
        self.town = _Town(self.embedded)

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
        """ticks/s while 2,000 read commands/s flow, divided by ticks/s without traffic
        (interleaved windows, see :meth:`_Town.ratio_under_load`)."""
        return self.town.ratio_under_load()[0]

    def track_tick_cpu_ratio_under_load(self) -> float:
        """The simulation process's CPU per tick without traffic divided by that while
        2,000 read commands/s flow (the load-robust proxy of the ratio above)."""
        return self.town.ratio_under_load()[1]

    track_status_p50_us.unit = track_status_p99_us.unit = "us"  # type: ignore[attr-defined]
    track_whoami_p50_us.unit = track_whoami_p99_us.unit = "us"  # type: ignore[attr-defined]
    track_status_commands_per_s.unit = "commands/s"  # type: ignore[attr-defined]
    track_tick_rate_ratio_under_load.unit = "ratio"  # type: ignore[attr-defined]
    track_tick_cpu_ratio_under_load.unit = "ratio"  # type: ignore[attr-defined]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=int, nargs="?", const=3, default=0, metavar="N",
                        help="print only the tick-rate ratio under 2,000 commands/s, N times")
    parser.add_argument("--embedded", action="store_true",
                        help="serve the console in the simulation process (the old design)")
    parser.add_argument("--ab", action="store_true",
                        help="with --ratio: alternate embedded and front, N rounds each")
    args = parser.parse_args()
    if args.ratio and args.ab:
        for _ in range(args.ratio):
            for embedded in (True, False):
                town = _Town(embedded)
                try:
                    rate, cpu = town.ratio_under_load()
                finally:
                    town.close()
                print(f"{'embedded' if embedded else 'front   '} under 2,000 commands/s: "
                      f"ticks/s ratio {rate:.3f}, CPU-per-tick ratio {cpu:.3f}", flush=True)
        return
    suite = ConsoleSuite()
    suite.embedded = args.embedded
    suite.setup()
    try:
        if args.ratio:
            for _ in range(args.ratio):
                rate, cpu = suite.town.ratio_under_load()
                print(f"under 2,000 commands/s: ticks/s ratio {rate:.3f}, "
                      f"CPU-per-tick ratio {cpu:.3f}", flush=True)
            return
        results = {}
        for name in sorted(n for n in dir(suite) if n.startswith("track_")):
            results[name] = round(getattr(suite, name)(), 3)
            print(f"{name}: {results[name]}", flush=True)
        print(msgspec.json.encode(results).decode())
    finally:
        suite.teardown()


if __name__ == "__main__":
    main()
