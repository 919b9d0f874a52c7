"""``TelemetryHook``: frames and the publisher process for ``townlet.sim.Simulation``.

The simulation adds it as a tick hook: after every tick it writes the frame to
the shared-memory ring (never blocking) and rings the publisher's doorbell; it
starts `townlet publish` as a child process and stops it by closing the ring.
"""

from __future__ import annotations

import subprocess

from townlet.frames.writer import FrameRing
from townlet.publish.spawn import PublisherStartError, spawn_publisher, wait_ready

__all__ = ["TelemetryHook"]


class TelemetryHook:
    """Tick hook writing one frame per tick and owning the publisher process.

    Parameters
    ----------
    world
        The simulation's World.
    cfg
        Its TownletConfig (``cfg.telemetry`` configures ring and publisher).
    spawn
        Start the publisher (False: only write frames, e.g. for a separately run
        `townlet publish --ring <hook.ring.name>`).
    key_dir
        Overrides ``cfg.telemetry.key_dir``.
    """

    def __init__(self, world, cfg, *, spawn: bool = True, key_dir: str | None = None,
                 ready_timeout: float = 30.0) -> None:
        self.ring = FrameRing.for_world(world, cfg)
        self.proc: subprocess.Popen | None = None
        self.ready: dict | None = None
        if spawn:
            self.proc = spawn_publisher(self.ring, cfg.telemetry, key_dir=key_dir)
            try:
                self.ready = wait_ready(self.proc, ready_timeout)
            except PublisherStartError:
                self.close()
                raise

    def before(self, world) -> None:
        """Frames are written after the step; nothing happens before it."""

    def after(self, world) -> None:
        """Write this tick's frame (one C call) and ring the doorbell without waiting."""
        self.ring.publish(world.tick, world.sections())

    def close(self, timeout: float = 10.0) -> None:
        """Close (and unlink) the ring; the publisher then ships the last frame and exits."""
        self.ring.close()
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(timeout)
            self.proc.stdout.close()
            self.proc = None
