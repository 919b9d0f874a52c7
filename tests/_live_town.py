"""A real town for the dashboard tests: the Simulation loop on a thread with the console
attached (tests/_console.py) and the telemetry publisher spawned by its TelemetryHook,
exactly as ``townlet run`` wires them; plus a profile per role for the dashboard."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
from _console import Town
from telemetry_helpers import free_port

from townlet.config import TownletConfig, default_config, with_agents
from townlet.publish import TelemetryHook
from townlet.security.profile import Profile, write_profile
from townlet.security.registry import load_registry
from townlet.ui.login import Login, login_from_profile

__all__ = ["LiveTown"]


class LiveTown(Town):
    """Town + publisher with a frame every tick. ``health_seconds`` is short so silence is
    noticed quickly; the publisher is not restarted when it dies (the tests kill it on
    purpose). ``paused``: do not tick until ``sim.paused`` is cleared (to attach a policy
    driver first)."""

    def __init__(self, tmp: Path, *, agents: int = 300, tps: float = 15.0,
                 config: TownletConfig | None = None, paused: bool = False) -> None:
        self._period = 1.0 / tps
        super().__init__(tmp, agents=agents, paused=True, config=config)
        cfg = with_agents(config or default_config(), agents)
        tel = msgspec.structs.replace(cfg.telemetry, endpoint=f"tcp://127.0.0.1:{free_port()}",
                                      metrics_port=0, keyframe_interval=20, health_seconds=0.2,
                                      frame_every=1,
                                      restart_backoff_seconds=600.0)
        cfg = msgspec.structs.replace(cfg, telemetry=tel,
                                      keys=msgspec.structs.replace(cfg.keys, dir=str(self.kdir)))
        self.hook = TelemetryHook(self.sim.world, cfg, identity=lambda: self.sim.identity)
        self.sim.add_hook(self.hook)
        self.publish_endpoint = tel.endpoint
        self.sim.paused = paused

    def _loop(self) -> None:
        """Tick at the given rate (``Simulation.step`` does not pace; ``run`` would)."""
        due = time.monotonic()
        while not self._stop.is_set():
            if self.sim.step():
                self.ticks += 1
            due = max(due + self._period, time.monotonic() - 1.0)
            self._stop.wait(max(0.0, due - time.monotonic()))

    def login(self, role: str = "viewer", key: Path | None = None) -> Login:
        """What `townlet dashboard --profile` would load for this role's key."""
        key = key or self.keys[role]
        reg = load_registry(self.kdir / "registry.json")
        rec = next(r for r in reg.records() if key.name.endswith(f"{r.key_id}.key_secret"))
        prof = Profile(name=rec.name, role=rec.role, key_id=rec.key_id,
                       expires_at=rec.expires_at, client_key=str(key),
                       server_key=str(self.kdir / "server.key"),
                       console_endpoint=self.endpoint, telemetry_endpoint=self.publish_endpoint)
        path = write_profile(prof)
        return login_from_profile(prof, path)
