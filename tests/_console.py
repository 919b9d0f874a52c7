"""Test harness: a real World ticking on a thread with a real console server, real keys."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import msgspec

from townlet.client.console import ConsoleClient
from townlet.config import default_config, with_agents
from townlet.config.console import ConsoleConfig
from townlet.console.server import ConsoleServer
from townlet.security import init_key_dir, issue_key, parse_ttl
from townlet.world import World

__all__ = ["Town"]

TTL = {"viewer": "1h", "operator": "1h", "admin": "1h"}


class Town:
    """A simulation loop shaped like the real one: drain at tick start, honour LoopControl."""

    def __init__(self, tmp: Path, *, agents: int = 40, paused: bool = False,
                 **console: object) -> None:
        self.kdir = tmp / "keys"
        init_key_dir(self.kdir)
        self.keys = {role: issue_key(self.kdir, f"{role}1", role, parse_ttl(ttl))[1]
                     for role, ttl in TTL.items()}
        opts = {"audit_path": str(tmp / "audit" / "audit.jsonl"), **console}
        self.cfg = msgspec.structs.replace(ConsoleConfig(), **opts)
        self.world = World(with_agents(default_config(), agents), seed=0)
        self.server = ConsoleServer(self.cfg, self.kdir / "registry.json",
                                    self.kdir / "server.key_secret",
                                    snapshot_root=tmp / "snapshots", endpoint="tcp://127.0.0.1:0")
        if paused:
            self.server.control.pause()
        self.endpoint = self.server.start()
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        s, w = self.server, self.world
        while not self._stop.is_set():
            s.drain(w, self.cfg.max_per_tick)
            if s.control.take_tick():
                w.step()
                self.ticks += 1
            else:
                time.sleep(s.control.idle_sleep_s)

    def client(self, role: str = "viewer", **kw: object) -> ConsoleClient:
        kw.setdefault("timeout", 5.0)
        return ConsoleClient(self.endpoint, self.kdir / "server.key", self.keys[role], **kw)

    def stop_loop(self) -> None:
        """Stop ticking and draining (the server keeps its sockets)."""
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        self.stop_loop()
        self.server.close()
