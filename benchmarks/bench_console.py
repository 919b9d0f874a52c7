"""Console round trip over CURVE on localhost while a town ticks (asv suite + quick runner).

Reports round-trip latency p50/p99 of a tick-executed read command (``status``)
and of an off-tick one (``whoami``), sustained read-only commands/s with
pipelined clients, and the simulation's ticks/s with and without that traffic.

Quick run: ``PYTHONPATH=. python benchmarks/bench_console.py``
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path

import msgspec
import numpy as np
import structlog
import zmq

from townlet.client.console import ConsoleClient
from townlet.config import default_config, with_agents
from townlet.config.console import ConsoleConfig
from townlet.console.server import ConsoleServer
from townlet.security import init_key_dir, issue_key, load_keypair, load_public_key, parse_ttl
from townlet.wire.console import Request, encode
from townlet.world import World

AGENTS = 1000
# Request logs go to the audit file; keep the benchmark's stdout quiet.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


class _Town:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
        kdir = self.tmp / "keys"
        init_key_dir(kdir)
        self.kdir = kdir
        self.key = issue_key(kdir, "bench", "viewer", parse_ttl("1h"))[1]
        cfg = ConsoleConfig(audit_path=str(self.tmp / "audit.jsonl"), rate_per_s=1e6,
                            burst=10**6, queue_size=4096, max_per_tick=256)
        self.cfg = cfg
        self.world = World(with_agents(default_config(), AGENTS), seed=0)
        self.world.step()  # compile before timing
        self.server = ConsoleServer(cfg, kdir / "registry.json", kdir / "server.key_secret",
                                    endpoint="tcp://127.0.0.1:0")
        self.endpoint = self.server.start()
        self.ticks = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.server.drain(self.world, self.cfg.max_per_tick)
            self.world.step()
            self.ticks += 1

    def tick_rate(self, seconds: float) -> float:
        k0, t0 = self.ticks, time.perf_counter()
        time.sleep(seconds)
        return (self.ticks - k0) / (time.perf_counter() - t0)

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.server.close()


def _latencies(town: _Town, name: str, n: int) -> np.ndarray:
    with ConsoleClient(town.endpoint, town.kdir / "server.key", town.key) as c:
        c.call(name)
        out = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter()
            c.call(name)
            out[i] = time.perf_counter() - t0
    return out * 1e6


def _pipelined(town: _Town, name: str, clients: int, per_client: int) -> float:
    """Commands/s with ``clients`` DEALERs each keeping requests in flight."""
    kp = load_keypair(town.key)
    spub = load_public_key(town.kdir / "server.key")
    socks = []
    for _ in range(clients):
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.linger = 0
        s.curve_serverkey, s.curve_publickey, s.curve_secretkey = spub, kp.public, kp.secret
        s.connect(town.endpoint)
        socks.append(s)
    window = 64

    def run(s: zmq.Socket, k: int) -> None:
        sent = got = 0
        while got < per_client:
            while sent < per_client and sent - got < window:
                s.send(encode(Request(cmd_id=f"{k}-{sent}", name=name)))
                sent += 1
            if s.poll(10_000):
                s.recv()
                got += 1
            else:
                raise RuntimeError("benchmark client starved")

    for s in socks:  # warm up the handshake
        s.send(encode(Request(cmd_id="warm", name="whoami")))
        s.recv()
    threads = [threading.Thread(target=run, args=(s, k)) for k, s in enumerate(socks)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    dt = time.perf_counter() - t0
    for s in socks:
        s.close()
    return clients * per_client / dt


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
        return _pipelined(self.town, "status", 2, 5000)

    def track_tick_rate_ratio_under_load(self) -> float:
        """ticks/s during 2,000 read commands/s divided by ticks/s without traffic."""
        idle = self.town.tick_rate(2.0)
        stop = threading.Event()

        def load() -> None:
            with ConsoleClient(self.town.endpoint, self.town.kdir / "server.key",
                               self.town.key) as c:
                next_t = time.perf_counter()
                while not stop.is_set():
                    c.call("status")
                    next_t += 1 / 2000
                    delay = next_t - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)

        th = threading.Thread(target=load)
        th.start()
        busy = self.town.tick_rate(2.0)
        stop.set()
        th.join()
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
