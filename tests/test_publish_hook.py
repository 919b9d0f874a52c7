"""TelemetryHook inside the lead's Simulation loop: frames out, publisher lifecycle."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from telemetry_helpers import free_port, make_keys, no_shm_leak  # noqa: F401 - autouse fixture

from townlet.client import Subscriber
from townlet.config import default_config, with_agents
from townlet.frames import shm
from townlet.publish import PublisherStartError, TelemetryHook
from townlet.sim.loop import Simulation


def _cfg(tmp_path, key_dir, **telemetry):
    cfg = with_agents(default_config(), 200)
    telemetry.setdefault("frame_every", 1)
    tel = msgspec.structs.replace(cfg.telemetry, endpoint=f"tcp://127.0.0.1:{free_port()}",
                                  metrics_port=0, keyframe_interval=10, hwm=1000, **telemetry)
    return msgspec.structs.replace(cfg, telemetry=tel,
                                   keys=msgspec.structs.replace(cfg.keys, dir=key_dir))


def test_simulation_with_telemetry_hook(tmp_path):
    keys = make_keys(tmp_path)
    cfg = _cfg(tmp_path, key_dir=str(keys["dir"]))
    sim = Simulation(cfg, seed=0)
    hook = TelemetryHook(sim.world, cfg)
    sim.add_hook(hook)
    proc = hook.publisher.proc
    try:
        assert hook.ready["secure"] and hook.ring.name in shm.list_segments()
        with Subscriber(cfg.telemetry.endpoint, keys["server"], keys["viewer"],
                        rcvhwm=1000) as sub:
            sim.target_tps = 200
            first = None
            for _ in range(2000):  # tick until the subscription reached the publisher
                sim.run(1)
                first = sub.recv(0.01)
                if first is not None:
                    break
            assert first is not None and first.kind == "key"
            summary = sim.run(60)
            assert summary.ticks == 60
            kinds = {first.kind}
            while sub.tick < sim.world.tick:
                up = sub.recv(10)
                assert up is not None
                kinds.add(up.kind)
            # A publisher that fell behind (cold caches, a busy box) ships keyframes
            # only; once it keeps pace with single ticks, deltas must follow.
            for _ in range(500):
                if "delta" in kinds:
                    break
                sim.run(1)
                while sub.tick < sim.world.tick:
                    up = sub.recv(10)
                    assert up is not None
                    kinds.add(up.kind)
            assert {"key", "delta"} <= kinds
            assert sub.state["tick"][0] == sim.world.tick
            assert sub.config_id == sim.world.config_id
    finally:
        sim.close()
    assert proc.returncode == 0  # the publisher left on its own once the ring closed
    assert hook.ring.name not in shm.list_segments()


class _Events:
    """A tick hook recording every tick's events as the world reports them."""

    def __init__(self) -> None:
        self.by_tick: dict[int, np.ndarray] = {}

    def before(self, world) -> None:
        return

    def after(self, world) -> None:
        self.by_tick[world.tick] = world.events()

    def close(self) -> None:
        return


def test_frames_every_k_ticks_deliver_every_event_and_the_last_state(tmp_path):
    """With a frame every 4 ticks, subscribers get frames of ticks 4, 8, ... plus the
    run's last tick (written at close), every event of every tick exactly once, and the
    final state bit for bit."""
    keys = make_keys(tmp_path)
    cfg = _cfg(tmp_path, key_dir=str(keys["dir"]), frame_every=4)
    sim = Simulation(cfg, seed=0)
    hook = TelemetryHook(sim.world, cfg)
    sim.add_hook(hook)
    sim.add_hook(recorder := _Events())
    try:
        with Subscriber(cfg.telemetry.endpoint, keys["server"], keys["viewer"],
                        rcvhwm=1000) as sub:
            while sub.stats.keyframes == 0:  # joined: the keyframe of the newest frame
                sim.step()
                sub.recv(0.01)
            first = sub.tick
            sim.target_tps = 300
            sim.run(41 - sim.world.tick % 4)  # ends one tick past a frame tick
            final = sim.world.tick
            assert final % 4 == 1
            want_state = {n: sim.world.view(n).copy() for n in ("agent_x", "agent_needs",
                                                                  "agent_wallet", "obj_holder")}
            sim.close()
            ticks, events = [], []
            while (up := sub.recv(10)) is not None and up.kind != "end":
                if up.kind in ("key", "delta"):
                    ticks.append(up.tick)
                    events.append(up.events)
            assert up is not None and up.kind == "end" and sub.stats.gaps == 0
    finally:
        sim.close()
    assert ticks[-1] == final and all(t % 4 == 0 for t in ticks[:-1])
    got = np.concatenate(events)
    want = np.concatenate([recorder.by_tick[t] for t in range(first + 1, final + 1)])
    assert len(want) > 0
    assert np.array_equal(got[["tick", "code", "agent", "other", "obj"]],
                          want[["tick", "code", "agent", "other", "obj"]])
    assert np.array_equal(got["value"].view(np.uint32), want["value"].view(np.uint32))
    for name, arr in want_state.items():
        assert np.array_equal(sub.state[name], arr), name


def test_hook_reports_a_publisher_that_cannot_start(tmp_path):
    cfg = _cfg(tmp_path, key_dir=str(tmp_path / "no-keys-here"))
    sim = Simulation(cfg, seed=0)
    try:
        with pytest.raises(PublisherStartError, match="exited with status 1"):
            TelemetryHook(sim.world, cfg)
    finally:
        sim.close()
