"""End to end with the real World kernel: simulation process -> publisher -> subscriber."""

from __future__ import annotations

import time

import numpy as np
from telemetry_helpers import (
    go,
    load_hashes,
    make_keys,
    no_shm_leak,  # noqa: F401 - autouse fixture
    read_json_line,
    start_publisher,
    start_writer,
    stop,
)

from townlet.client import Subscriber
from townlet.frames.schema import EVENT_DTYPE
from townlet.world.events import EVENT_DTYPE as WORLD_EVENT_DTYPE


def test_event_record_matches_the_worlds():
    assert EVENT_DTYPE == WORLD_EVENT_DTYPE


def test_subscriber_rebuilds_the_world_frames(tmp_path):
    keys = make_keys(tmp_path)
    hashes = tmp_path / "hashes.jsonl"
    writer, info = start_writer("--world", "--agents", "400", "--ticks", "200", "--rate", "100",
                                "--hashes", str(hashes), "--wait-go", "--hold")
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--keyframe-interval", "40", "--hwm", "1000")
    try:
        with Subscriber(ready["endpoint"], keys["server"], keys["viewer"], rcvhwm=1000) as sub:
            time.sleep(0.3)
            go(writer)
            applied, events = [], 0
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sub.tick < 200:
                up = sub.recv(0.5)
                if up is not None and up.kind in ("key", "delta"):
                    applied.append((up.tick, sub.frame_hash()))
                    events += up.events.size
            assert read_json_line(writer, 60)["done"] == 200
            truth = load_hashes(hashes)
            assert applied and applied[-1][0] == max(truth)
            for tick, h in applied:
                assert truth[tick] == h, f"tick {tick}"
            assert events > 0
            alive = sub.state["agent_alive"]
            assert sub.state["n_alive"][0] == np.count_nonzero(alive)
    finally:
        stop(writer)
        stop(pub)


def test_world_frames_are_read_only_and_leave_the_world_untouched():
    import pytest

    from townlet.config import default_config, with_agents
    from townlet.frames import FrameReader, FrameRing
    from townlet.world import World

    cfg = with_agents(default_config(), 200)
    world = World(cfg, seed=1)
    for _ in range(5):
        world.step()
    with FrameRing.for_world(world, cfg, doorbell=None, every=1) as ring:
        ring.publish(world.tick, world.sections())
        before = world.state_hash()
        with FrameReader(ring.name, ring.schema) as reader:
            frame = reader.read_latest()
            for name, arr in frame.columns.items():
                with pytest.raises(ValueError, match="read-only"):
                    arr[...] = 1
            assert frame.tick == world.tick and frame.config_id == world.config_id
            for name in ("agent_x", "agent_needs", "obj_holder", "stats"):
                assert np.array_equal(frame.columns[name], world.view(name))
            assert np.array_equal(frame.events, world.events())
        assert world.state_hash() == before
