"""A frame-writing process for telemetry tests: a synthetic town state that changes every tick.

Run as ``python tests/telemetry_writer.py --agents N --ticks T ...``. Prints one
JSON line ``{"ring": name, "doorbell": addr, "pid": pid}`` once the ring exists,
optionally waits for a line on stdin before the first tick (``--wait-go``),
writes one JSON line per tick with the frame hash to ``--hashes FILE``, and at
the end prints ``{"done": ticks}``. It exercises the same FrameRing API the
simulation uses; the state arrays come from the world's own state table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from townlet.frames.reader import FrameReader
from townlet.frames.writer import FrameRing
from townlet.ops.logging import configure_logging
from townlet.world.state import allocate


def sizes(agents: int) -> dict[str, int]:
    objects = max(8, agents // 3)
    return {"N": agents, "K": 6, "W": 7, "M": objects, "B": max(4, agents // 20), "D": 4,
            "H": 64, "X": 64, "E": max(64, agents // 4), "P": 16, "S": 4}


def make_state(agents: int, seed: int) -> dict[str, np.ndarray]:
    st = allocate(sizes(agents))._asdict()
    rng = np.random.default_rng(seed)
    st["agent_alive"][: agents - agents // 10] = 1
    st["agent_x"][:] = rng.integers(0, 64, agents)
    st["agent_y"][:] = rng.integers(0, 64, agents)
    st["agent_needs"][:] = rng.random((agents, 4), dtype=np.float32)
    st["agent_wallet"][:] = rng.random(agents) * 100
    st["obj_type"][:] = rng.integers(0, 6, st["obj_type"].size)
    return st


def step(st: dict[str, np.ndarray], rng: np.random.Generator, tick: int, churn: float) -> None:
    """One synthetic tick: needs decay, some agents move/act, a few events."""
    n = st["agent_alive"].size
    decay = np.array([0.001, 0.0005, 0.0005, 0.0004], dtype=np.float32)
    np.maximum(st["agent_needs"] - decay, np.float32(0), out=st["agent_needs"])
    sleepers = rng.random(n) < 0.25
    st["agent_needs"][sleepers, 2] = np.minimum(st["agent_needs"][sleepers, 2] + np.float32(0.003),
                                                np.float32(1))
    movers = rng.random(n) < churn
    st["agent_x"][movers] = (st["agent_x"][movers] + 1) % 64
    st["agent_action"][movers] = rng.integers(0, 15, int(movers.sum()))
    st["agent_wallet"][rng.random(n) < churn / 4] += 1_500_000
    m = st["obj_q_len"].size
    st["obj_q_len"][:] = rng.integers(0, 3, m) * (rng.random(m) < 0.05)
    k = int(rng.integers(0, min(32, st["evt_code"].size)))
    st["evt_len"][0] = k
    st["evt_code"][:k] = rng.integers(0, 40, k)
    st["evt_agent"][:k] = rng.integers(0, n, k)
    st["evt_value"][:k] = rng.random(k, dtype=np.float32)
    st["clock"][0] = tick


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=500)
    ap.add_argument("--ticks", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0.0, help="ticks per second, 0 = flat out")
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--churn", type=float, default=0.2)
    ap.add_argument("--hashes", default=None)
    ap.add_argument("--wait-go", action="store_true")
    ap.add_argument("--hold", action="store_true", help="keep the ring open after the last tick "
                    "until stdin closes")
    ap.add_argument("--no-doorbell", action="store_true")
    ap.add_argument("--event-log", type=int, default=None, help="events the ring's log holds")
    ap.add_argument("--spawn-publisher", default=None,
                    help="JSON of TelemetryConfig fields: start the publisher like `townlet run`")
    ap.add_argument("--key-dir", default=None)
    ap.add_argument("--world", action="store_true", help="run the real World kernel")
    a = ap.parse_args()
    configure_logging(json=True)  # stdout carries this script's JSON lines only

    doorbell = None if a.no_doorbell else True
    log = {} if a.event_log is None else {"event_log": a.event_log}
    if a.world:
        from townlet.config import default_config, with_agents
        from townlet.world import World

        cfg = with_agents(default_config(), a.agents)
        world = World(cfg, seed=3)
        ring = FrameRing.for_world(world, cfg, slots=a.slots, doorbell=doorbell, every=1, **log)

        def advance(_tick: int) -> tuple[int, dict[str, np.ndarray]]:
            world.step()
            return world.tick, world.sections()
    else:
        st = make_state(a.agents, seed=7)
        rng = np.random.default_rng(11)
        ring = FrameRing.from_sections(st, config_id="test-config", ticks_per_day=1440,
                                       slots=a.slots, doorbell=doorbell, **log)

        def advance(tick: int) -> tuple[int, dict[str, np.ndarray]]:
            step(st, rng, tick, a.churn)
            return tick, st
    info = {"ring": ring.name, "doorbell": ring.doorbell, "pid": os.getpid(),
            "removed_stale": ring.removed_stale}
    proc = None
    if a.spawn_publisher is not None:
        import msgspec

        from townlet.config.telemetry import TelemetryConfig
        from townlet.publish.spawn import spawn_publisher, wait_ready

        tcfg = msgspec.convert(json.loads(a.spawn_publisher), TelemetryConfig)
        proc = spawn_publisher(ring, tcfg, **({"key_dir": a.key_dir} if a.key_dir else {}))
        info["publisher"] = wait_ready(proc)
        info["publisher_pid"] = proc.pid
    print(json.dumps(info), flush=True)
    if a.wait_go:
        sys.stdin.readline()
    reader = FrameReader(ring.name) if a.hashes else None
    with open(a.hashes or os.devnull, "w") as out:
        t0 = time.perf_counter()
        for i in range(a.ticks):
            tick, sections = advance(i)
            ring.publish(tick, sections)
            if reader is not None:
                frame = reader.read(ring.last_frame)
                out.write(json.dumps({"tick": tick, "hash": frame.hash(),
                                      "codes": frame.events["code"].tolist()}) + "\n")
                out.flush()
            if a.rate:
                delay = t0 + (i + 1) / a.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
    print(json.dumps({"done": a.ticks, "doorbells_dropped": ring.doorbells_dropped}), flush=True)
    if a.hold:
        sys.stdin.read()
    if reader is not None:
        reader.close()
    ring.close()
    if proc is not None:
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
