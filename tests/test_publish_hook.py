"""TelemetryHook inside the lead's Simulation loop: frames out, publisher lifecycle."""

from __future__ import annotations

import msgspec
import pytest
from telemetry_helpers import free_port, make_keys, no_shm_leak  # noqa: F401 - autouse fixture

from townlet.client import Subscriber
from townlet.config import default_config, with_agents
from townlet.frames import shm
from townlet.publish import PublisherStartError, TelemetryHook
from townlet.sim.loop import Simulation


def _cfg(tmp_path, key_dir, **telemetry):
    cfg = with_agents(default_config(), 200)
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
            sim.run(5)  # the subscription reaches the publisher meanwhile
            summary = sim.run(60)
            assert summary.ticks == 60
            kinds = set()
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


def test_hook_reports_a_publisher_that_cannot_start(tmp_path):
    cfg = _cfg(tmp_path, key_dir=str(tmp_path / "no-keys-here"))
    sim = Simulation(cfg, seed=0)
    try:
        with pytest.raises(PublisherStartError, match="exited with status 1"):
            TelemetryHook(sim.world, cfg)
    finally:
        sim.close()
