"""``TelemetryHook``: frames and the publisher process for ``townlet.sim.Simulation``.

The simulation adds it as a tick hook: after every tick it logs the tick's events
and every ``telemetry.frame_every`` ticks writes the frame to the shared-memory
ring (never blocking) and rings the publisher's doorbell;
before every loop iteration its supervisor checks that the publisher (a
`townlet publish` child process) is alive and restarts it if it died. Closing
the ring stops the publisher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from townlet.frames.writer import FrameRing
from townlet.publish.supervise import PublisherStatus, PublisherSupervisor

__all__ = ["PolicyTag", "TelemetryHook"]


class PolicyTag(Protocol):
    """What drove the tick, as frames record it (``townlet.snapshots.PolicyIdentity``)."""

    @property
    def policy_hash(self) -> str | None: ...
    @property
    def policy_name(self) -> str | None: ...
    @property
    def anneal_ratio(self) -> float | None: ...
    @property
    def learned_agents(self) -> int | None: ...


class TelemetryHook:
    """Tick hook writing one frame per tick and supervising the publisher process.

    Parameters
    ----------
    world
        The simulation's World.
    cfg
        Its TownletConfig (``cfg.telemetry`` configures ring and publisher,
        ``cfg.keys.dir`` holds the publisher's keys).
    spawn
        Start the publisher (False: only write frames, e.g. for a separately run
        `townlet publish --ring <hook.ring.name>`).
    identity
        Called before each frame for the policy that drove the tick (None: scripted).
    """

    def __init__(self, world, cfg, *, spawn: bool = True, ready_timeout: float = 30.0,
                 identity: Callable[[], PolicyTag] | None = None) -> None:
        self.ring = FrameRing.for_world(world, cfg)
        self.identity = identity
        self._tag: PolicyTag | None = None
        self.world = world
        self.publisher: PublisherSupervisor | None = None
        if spawn:
            try:
                self.publisher = PublisherSupervisor(self.ring, cfg.telemetry, cfg.keys.dir,
                                                     ready_timeout=ready_timeout)
            except BaseException:
                self.ring.close()
                raise

    @property
    def ready(self) -> dict | None:
        """The current publisher's ready line (endpoint, stream, ...), None without one."""
        return self.publisher.ready if self.publisher is not None else None

    def before(self, world) -> None:
        """Check the publisher (restart it if it died); never blocks."""
        if self.publisher is not None:
            self.publisher.check()

    def after(self, world) -> None:
        """Log this tick's events and, every ``telemetry.frame_every`` ticks, write its frame
        (one C call) and ring the doorbell; never waits."""
        tag = self.identity() if self.identity is not None else None
        if tag is not None and tag is not self._tag:  # identities are frozen: new one, new tag
            self._tag = tag
            self.ring.set_policy(tag.policy_hash, tag.policy_name, tag.anneal_ratio or 0.0,
                                 tag.learned_agents or 0)
        self.ring.publish(world.tick, world.sections())

    def status(self) -> PublisherStatus | None:
        """The supervised publisher's state (None when it is not spawned by this hook)."""
        return self.publisher.status() if self.publisher is not None else None

    def close(self, timeout: float = 10.0) -> None:
        """Write the last tick's frame if it has none yet, close (and unlink) the ring; the
        publisher then ships that frame and exits."""
        if self.world.tick > 0:
            self.ring.flush(self.world.tick, self.world.sections())
        self.ring.close()
        if self.publisher is not None:
            self.publisher.close(timeout)
