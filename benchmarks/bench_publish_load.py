"""asv: what publishing costs the simulation, and what one shipped message costs the publisher.

For a real World kernel with the `townlet run` layout (ring + doorbell + spawned
publisher + one `townlet subscribe` process), with a frame every tick and with
the default ``telemetry.frame_every``, against the same town without any
publishing (``--no-publish``), runs interleaved so machine load hits all alike:

- sim ticks/s with a subscriber attached divided by ticks/s without publishing
  (issue 12: >= 0.95 at 100k agents);
- publisher process CPU per shipped message divided by the simulation's CPU per tick
  (issue 12: <= 1 at 100k and 1M: one spare core ships every frame);
- delta bytes per agent per tick as received by the subscriber, and (``DeltaBytes``)
  per delta encoded from consecutive frames with and without Offset changes;
- (``MessageCpu``) the publisher's work per delta in one process: CPU seconds of
  reading the frame, diffing and encoding it, over the CPU seconds of the ticks it
  covers and of one tick, measured in the same loop (steadier than the figures across
  processes on a busy machine).

``python benchmarks/bench_publish_load.py [--agents 100000,1000000] [--bytes-only]``
prints every figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise

import msgspec
import numpy as np

from townlet.config import default_config, with_agents
from townlet.config.telemetry import TelemetryConfig
from townlet.frames.reader import FrameReader
from townlet.frames.writer import FrameRing
from townlet.publish.diff import Differ, encode_change
from townlet.publish.spawn import spawn_publisher, wait_ready
from townlet.wire import SCHEMA_VERSION, Codec, Delta, Offset
from townlet.world import World

TICKS = {10_000: 800, 100_000: 160, 1_000_000: 24}
"""Measured ticks per run (a whole number of frame periods)."""
WARMUP = 16
LOCKSTEP_MESSAGES = {10_000: 200, 100_000: 60, 1_000_000: 12}
"""Messages measured by ``_Town.lockstep``."""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Town:
    """One World reused by every run of a size (building a 1M town takes a while).

    Every run starts from the same state (restored in place, so the arrays the ring
    holds stay the same objects) and runs the same ticks: a tick's cost follows the
    town's day (at 100k agents ~5 ms at night, ~10 ms in the morning rush), so runs at
    different hours would compare the hour, not the publishing."""

    def __init__(self, agents: int) -> None:
        self.cfg = with_agents(default_config(), agents)
        self.world = World(self.cfg, seed=0)
        for _ in range(WARMUP):
            self.world.step()
        self.start = {k: a.copy() for k, a in self.world.sections().items()}

    def _restore(self) -> None:
        for k, a in self.world.sections().items():
            a[...] = self.start[k]

    @contextlib.contextmanager
    def _served(self, every: int, warm: int) -> Iterator[dict]:
        """The start state, a ring (a frame every ``every`` ticks), its publisher and a
        `townlet subscribe` process; yields once the subscriber has its keyframe and
        ``warm`` ticks ran. On exit the ring is closed and ``out`` gets the publisher's
        resource usage over its life and the subscriber's rows."""
        w = self.world
        self._restore()
        tel = msgspec.structs.replace(self.cfg.telemetry, insecure_dev=True, metrics_port=0,
                                      endpoint=f"tcp://127.0.0.1:{_port()}")
        ring = FrameRing.for_world(w, self.cfg, every=every)
        pub = spawn_publisher(ring, tel)
        out: dict = {"ring": ring, "pub": pub, "sub": None}
        head = ""
        try:
            endpoint = wait_ready(pub)["endpoint"]
            sub = out["sub"] = subprocess.Popen(
                [sys.executable, "-m", "townlet", "subscribe", "--insecure-dev", "--endpoint",
                 endpoint, "--count", "1000000", "--json", "--timeout", "600"],
                stdout=subprocess.PIPE, text=True)
            for _ in range(warm):
                w.step()
                ring.publish(w.tick, w.sections())
            # measure only once the subscriber has its keyframe (a slow start would
            # otherwise leave the publisher idle through the measured ticks)
            if not select.select([sub.stdout], [], [], 120)[0]:
                raise RuntimeError("the subscriber received nothing in 120 s")
            head = sub.stdout.readline()
            time.sleep(1.0)
            yield out
        finally:
            ring.close()  # the publisher ships what is left, ends the stream and exits
            out["usage"] = os.wait4(pub.pid, 0)[2]  # reaps it: its CPU over its whole life
            rest, _ = out["sub"].communicate(timeout=120) if out["sub"] else ("", None)
            out["rows"] = [json.loads(x) for x in (head + rest).splitlines()]

    def run(self, ticks: int, every: int | None, warm: int | None = None) -> dict[str, float]:
        """``ticks`` ticks from the start state after ``warm`` (default ``2 * every``, or
        16) warm-up ticks; ``every`` None = no publishing, else a frame every ``every``
        ticks, with a `townlet subscribe` process attached. CPU seconds per tick of each
        process."""
        w = self.world
        if warm is None:
            warm = 2 * (every or 8)  # the subscriber's keyframe, then steady state
        if every is None:
            self._restore()
            for _ in range(warm):
                w.step()
            time.sleep(1.0)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(ticks):
                w.step()
            return {"tps": ticks / (time.perf_counter() - t0),
                    "cpu_per_tick": (time.process_time() - c0) / ticks}
        with self._served(every, warm) as s:
            ring, pub, sub = s["ring"], s["pub"], s["sub"]
            p0, s0 = _cpu(pub.pid), _cpu(sub.pid)
            t0, c0, first = time.perf_counter(), time.process_time(), w.tick
            for _ in range(ticks):
                w.step()
                ring.publish(w.tick, w.sections())
            tps = ticks / (time.perf_counter() - t0)
            cpu_tick = (time.process_time() - c0) / ticks
            pub_tick = (_cpu(pub.pid) - p0) / ticks
            sub_tick = (_cpu(sub.pid) - s0) / ticks
        shipped = [r for r in s["rows"] if r.get("kind") in ("key", "delta") and r["tick"] > first]
        # (bytes, ticks covered): a publisher behind the simulation ships only the newest
        # frame, so a delta may cover more than ``every`` ticks
        deltas = [(r["bytes"], r["tick"] - p["tick"])
                  for p, r in pairwise(shipped) if r["kind"] == "delta"]
        usage = s["usage"]
        pub_cpu = usage.ru_utime + usage.ru_stime - p0
        return {"tps": tps, "cpu_per_tick": cpu_tick, "pub_cpu_per_tick": pub_tick,
                "sub_cpu_per_tick": sub_tick,
                "pub_cpu_per_msg": pub_cpu / max(1, len(shipped)),
                "delta_bytes_per_agent_tick": (sum(b for b, _ in deltas)
                                               / max(1, sum(t for _, t in deltas)) / w.n_agents)}

    def lockstep(self, every: int, messages: int) -> dict[str, float]:
        """CPU seconds per shipped message of the publisher and the subscriber processes,
        with the simulation waiting after each frame until the subscriber has applied it
        (so every frame is shipped, keyframes at their usual interval included), and the
        simulation's CPU per tick with and without publishing from the same state. CPU
        time, not wall time: it holds on a busy machine."""
        w = self.world
        with self._served(every, 2 * every) as s:
            ring, pub, sub = s["ring"], s["pub"], s["sub"]
            p0, s0, sim, ticks, shipped = _cpu(pub.pid), _cpu(sub.pid), 0.0, 0, 0
            while shipped < messages:
                c0 = time.process_time()
                w.step()
                framed = ring.publish(w.tick, w.sections())
                sim, ticks = sim + time.process_time() - c0, ticks + 1
                while framed:
                    row = json.loads(sub.stdout.readline())
                    framed = not (row.get("kind") in ("key", "delta") and row["tick"] >= w.tick)
                shipped += ring.last_frame_tick == w.tick
            pub_cpu, sub_cpu = _cpu(pub.pid) - p0, _cpu(sub.pid) - s0
        bare = self.run(ticks, None, warm=2 * every)["cpu_per_tick"]
        return {"pub_cpu_per_msg": pub_cpu / messages, "sub_cpu_per_msg": sub_cpu / messages,
                "sim_cpu_per_tick": sim / ticks, "tick_cpu": bare}


def measure(agents: int, rounds: int = 2) -> dict[str, float]:
    """Interleaved runs (no publishing, a frame every tick, the default cadence) of the
    same ticks; best of ``rounds`` ticks/s each, the other figures from the same best run.
    ``*_cpu_share``: each process's CPU seconds per tick over the simulation's CPU per
    tick without publishing."""
    town = _Town(agents)
    default = town.cfg.telemetry.frame_every
    modes: dict[str, int | None] = {"none": None, "every1": 1, f"every{default}": default}
    best: dict[str, dict[str, float]] = {}
    for _ in range(rounds):
        for name, every in modes.items():
            r = town.run(TICKS[agents], every)
            if name not in best or r["tps"] > best[name]["tps"]:
                best[name] = r
    base = best["none"]["cpu_per_tick"]
    out = {}
    for name in modes:
        if name == "none":
            continue
        r = best[name]
        out[f"{name}_tps_ratio"] = r["tps"] / best["none"]["tps"]
        out[f"{name}_pub_cpu_per_msg_over_tick_cpu"] = r["pub_cpu_per_msg"] / base
        out[f"{name}_delta_bytes_per_agent_tick"] = r["delta_bytes_per_agent_tick"]
        for proc, key in (("sim", "cpu_per_tick"), ("pub", "pub_cpu_per_tick"),
                          ("sub", "sub_cpu_per_tick")):
            out[f"{name}_{proc}_cpu_share"] = r[key] / base
    out["tick_ms_no_publish"] = 1e3 / best["none"]["tps"]
    out["tick_cpu_ms_no_publish"] = 1e3 * base
    return out


def delta_bytes(agents: int, messages: int, every: int = 1) -> dict[str, float]:
    """Mean encoded delta bytes per agent per tick (a frame every ``every`` ticks, events
    included) as shipped, as the differ would ship them without Repeat (its state reset
    before each delta, as after a keyframe), and without Repeat and Offset (plain),
    from the same frames."""
    cfg = with_agents(default_config(), agents)
    world = World(cfg, seed=0)
    for _ in range(WARMUP):
        world.step()
    codec, sizes = Codec(), {"shipped": [], "no_repeat": [], "plain": []}
    with FrameRing.for_world(world, cfg, doorbell=None, every=every) as ring, \
            FrameReader(ring.name) as reader:
        schema, differ, fresh = reader.schema, Differ(reader.schema), Differ(reader.schema)
        bufs = [bytearray(schema.capacity) for _ in range(3)]  # as the publisher turns them
        for t in range(messages + 1):
            for _ in range(every):
                world.step()
                ring.publish(world.tick, world.sections())
            new, old, before = bufs[t % 3], bufs[(t - 1) % 3], bufs[(t - 2) % 3]
            reader.read_into(ring.last_frame, new)
            if t == 0:
                differ.keyframe_columns(new)
                continue
            n_events = int(np.frombuffer(new, "<i4", 1, schema.by_name["n_events"].offset)[0])
            events = differ.event_columns(new, n_events)
            changes = differ.changes(old, new, before)
            fresh.keyframe_columns(old)
            no_repeat = fresh.changes(old, new)
            olds, news = schema.view(old, 0), schema.view(new, 0)
            plain = [encode_change(c.c, news[c.c].reshape(-1), np.flatnonzero(
                olds[c.c].reshape(-1) != news[c.c].reshape(-1))) if isinstance(c, Offset) else c
                for c in no_repeat]
            for key, chs in (("shipped", changes), ("no_repeat", no_repeat), ("plain", plain)):
                sizes[key].append(len(codec.encode(Delta(
                    v=SCHEMA_VERSION, stream="s", seq=t + 1, tick=t, head_tick=t, sent_ns=0,
                    schema_hash="", base_tick=t - 1, changes=chs, events=events))))
    return {k: float(np.mean(v)) / agents / every for k, v in sizes.items()}


def message_cpu(agents: int, messages: int = 6, every: int | None = None) -> dict[str, float]:
    """Median CPU seconds per delta of read + diff + encode (a frame every ``every``
    ticks, default: the default cadence), and the median CPU seconds of one kernel tick,
    from the same loop. The first delta (no Repeat base yet) is left out."""
    cfg = with_agents(default_config(), agents)
    world = World(cfg, seed=0)
    for _ in range(WARMUP):
        world.step()
    codec, ticks, work = Codec(), [], []
    kw = {} if every is None else {"every": every}
    with FrameRing.for_world(world, cfg, doorbell=None, **kw) as ring, \
            FrameReader(ring.name) as reader:
        schema, differ = reader.schema, Differ(reader.schema)
        bufs = [bytearray(schema.capacity) for _ in range(3)]  # as the publisher turns them
        t = 0
        while len(work) <= messages:
            c0 = time.process_time()
            world.step()
            ticks.append(time.process_time() - c0)
            if not ring.publish(world.tick, world.sections()):
                continue
            new, old, before = bufs[t % 3], bufs[(t - 1) % 3], bufs[(t - 2) % 3]
            c0 = time.process_time()
            reader.read_into(ring.last_frame, new)
            if t == 0:
                differ.keyframe_columns(new)
            else:
                n_events = int(np.frombuffer(new, "<i4", 1,
                                             schema.by_name["n_events"].offset)[0])
                codec.encode(Delta(v=SCHEMA_VERSION, stream="s", seq=1, tick=world.tick,
                                   head_tick=world.tick, sent_ns=0, schema_hash="",
                                   base_tick=0, changes=differ.changes(old, new, before),
                                   events=differ.event_columns(new, n_events)))
                work.append(time.process_time() - c0)
            t += 1
    return {"message_cpu": float(np.median(work[1:])), "tick_cpu": float(np.median(ticks)),
            "every": ring.every}


class MessageCpu:
    """Publisher CPU per delta (read + diff + encode) over the kernel's CPU per tick."""

    params = [100_000, 1_000_000]  # noqa: RUF012 - asv API
    param_names = ["agents"]  # noqa: RUF012 - asv API
    timeout = 3600

    def setup_cache(self) -> dict[int, dict[str, float]]:
        return {n: message_cpu(n) for n in self.params}

    def track_message_cpu_over_tick_cpu(self, cache, agents: int) -> float:
        return cache[agents]["message_cpu"] / cache[agents]["tick_cpu"]

    def track_message_cpu_ms(self, cache, agents: int) -> float:
        return 1e3 * cache[agents]["message_cpu"]

    track_message_cpu_over_tick_cpu.unit = "ratio"
    track_message_cpu_ms.unit = "ms"


class DeltaBytes:
    """Delta bytes per agent per tick at 10k/100k/1M (a frame every tick): as shipped,
    without Repeat changes, and without Repeat and Offset changes."""

    params = [10_000, 100_000, 1_000_000]  # noqa: RUF012 - asv API
    param_names = ["agents"]  # noqa: RUF012 - asv API
    timeout = 3600

    def setup_cache(self) -> dict[int, dict[str, float]]:
        return {n: delta_bytes(n, 6 if n >= 1_000_000 else 20) for n in self.params}

    def track_delta_bytes_per_agent_tick(self, cache, agents: int) -> float:
        return cache[agents]["shipped"]

    def track_delta_bytes_per_agent_tick_no_repeat(self, cache, agents: int) -> float:
        return cache[agents]["no_repeat"]

    def track_delta_bytes_per_agent_tick_plain(self, cache, agents: int) -> float:
        return cache[agents]["plain"]

    track_delta_bytes_per_agent_tick.unit = "bytes"
    track_delta_bytes_per_agent_tick_no_repeat.unit = "bytes"
    track_delta_bytes_per_agent_tick_plain.unit = "bytes"


class PublishLoad:
    """Publishing's cost at 100k and 1M agents (figures of :func:`measure`)."""

    params = [100_000, 1_000_000]  # noqa: RUF012 - asv API
    param_names = ["agents"]  # noqa: RUF012 - asv API
    timeout = 3600
    number = 1
    repeat = 1

    def setup_cache(self) -> dict[int, dict[str, float]]:
        return {n: measure(n) for n in self.params}

    def track_tps_ratio_every_tick(self, cache, agents: int) -> float:
        return cache[agents]["every1_tps_ratio"]

    def track_tps_ratio_default_cadence(self, cache, agents: int) -> float:
        return next(v for k, v in cache[agents].items()
                    if k.endswith("_tps_ratio") and not k.startswith("every1_"))

    def track_pub_cpu_per_msg_over_tick_cpu_default_cadence(self, cache, agents: int) -> float:
        return next(v for k, v in cache[agents].items()
                    if k.endswith("_over_tick_cpu") and not k.startswith("every1_"))

    def track_delta_bytes_per_agent_tick_every_tick(self, cache, agents: int) -> float:
        return cache[agents]["every1_delta_bytes_per_agent_tick"]

    track_tps_ratio_every_tick.unit = "ratio"
    track_tps_ratio_default_cadence.unit = "ratio"
    track_pub_cpu_per_msg_over_tick_cpu_default_cadence.unit = "ratio"
    track_delta_bytes_per_agent_tick_every_tick.unit = "bytes"


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", default="100000,1000000")
    ap.add_argument("--bytes-only", action="store_true", help="only the delta-bytes figures")
    ap.add_argument("--message-cpu", action="store_true",
                    help="only the publisher CPU per delta in one process (MessageCpu)")
    ap.add_argument("--every", type=int, default=None,
                    help="with --message-cpu: a frame every this many ticks (default cadence)")
    ap.add_argument("--lockstep", action="store_true",
                    help="only the CPU per shipped message of the publisher and subscriber "
                         "processes, every frame shipped (Town.lockstep)")
    args = ap.parse_args()
    for n in (int(a) for a in args.agents.split(",")):
        if args.lockstep:
            town = _Town(n)
            for k in (1, TelemetryConfig().frame_every):
                m = town.lockstep(k, LOCKSTEP_MESSAGES[n])
                print(json.dumps({"agents": n, "every": k} | {
                    key: round(1e3 * v, 3) for key, v in m.items()} | {
                    "pub_msg_over_tick": round(m["pub_cpu_per_msg"] / m["tick_cpu"], 3),
                    "sub_msg_over_tick": round(m["sub_cpu_per_msg"] / m["tick_cpu"], 3),
                    "sim_share": round(m["sim_cpu_per_tick"] / m["tick_cpu"], 3)}), flush=True)
            continue
        if args.message_cpu:
            m = message_cpu(n, every=args.every)
            print(json.dumps({"agents": n, "message_cpu_ms": round(1e3 * m["message_cpu"], 3),
                              "tick_cpu_ms": round(1e3 * m["tick_cpu"], 3),
                              "message_over_tick": round(m["message_cpu"] / m["tick_cpu"], 3),
                              "every": m["every"]}), flush=True)
            continue
        row = {f"delta_bytes_per_agent_tick_every{k}_{name}": round(v, 3)
               for k in (1, TelemetryConfig().frame_every)
               for name, v in delta_bytes(n, 6 if n >= 1_000_000 else 20, k).items()}
        if not args.bytes_only:
            row |= {k: round(v, 4) for k, v in measure(n).items()}
        print(json.dumps({"agents": n} | row), flush=True)
