"""``Simulation``: the process that owns the world.

Each tick: drain a bounded number of console requests, step the world, write
the frame to the shared-memory ring and ring the publisher's doorbell. None of
these waits on a reader: the ring overwrites, the doorbell drops, the console
queue is bounded.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from prometheus_client import CollectorRegistry

from townlet.config import TownletConfig
from townlet.sim.control import LoopControl
from townlet.sim.days import DayRecorder
from townlet.sim.summary import EventTally, RunSummary, summarize
from townlet.snapshots.format import PolicyIdentity
from townlet.world import World

if TYPE_CHECKING:
    from townlet.console.link import ConsoleLink
    from townlet.console.server import ConsoleServer

__all__ = ["ActionSource", "Simulation", "TickHook"]

IDLE_SLEEP = 0.005


class TickHook(Protocol):
    """Something that runs once per tick on the simulation thread (console drain,
    frame writer). ``before`` runs before the world steps, ``after`` after it."""

    def before(self, world: World) -> None: ...

    def after(self, world: World) -> None: ...

    def close(self) -> None: ...


class ActionSource(Protocol):
    """Chooses the agents' actions for the next step (a learned policy driver); asked
    after every ``before`` hook, right before the world steps."""

    def actions(self, world: World) -> np.ndarray | None:
        """One code per agent slot (-1 = scripted), or None: everyone scripted."""
        ...


class Simulation(LoopControl):
    """Drive a :class:`World` tick by tick with optional hooks.

    It is its own run control (``paused``, ``pending_steps``, ``target_tps`` and the
    ``take_tick`` rule of :class:`~townlet.sim.control.LoopControl`), which the
    console steers.

    Parameters
    ----------
    config, seed
        Passed to :class:`World` (ignored when ``world`` is given).
    world
        An existing world, e.g. resumed from a snapshot.
    """

    def __init__(self, config: TownletConfig, seed: int = 0, world: World | None = None) -> None:
        super().__init__()
        self.world = world if world is not None else World(config, seed)
        self.hooks: list[TickHook] = []
        self.services: dict[str, Callable[[], Any]] = {}
        """Status callbacks of the services beside the town (e.g. the publisher); each
        returns a struct with ``ok`` (bool) and ``state`` (str) fields."""
        self.tally = EventTally()
        self.days: DayRecorder | None = None
        self.actions: ActionSource | None = None
        """Who chooses actions (None: the world's scripted policy for every agent)."""
        self.identity = PolicyIdentity()
        """What drives the agents, recorded in frames and snapshots (set by the driver)."""
        self.console: ConsoleServer | ConsoleLink | None = None
        """The operator console: the link to its front process when ``start_services``
        started one, the in-process server when ``townlet.console.hook.attach`` did."""
        self.registry = CollectorRegistry()
        """This process's Prometheus registry (simulation and console metrics)."""
        self.loop_at: float | None = None
        """``time.monotonic()`` of the last loop iteration (None before the first)."""
        self.ticked = False
        """True once a tick completed (the kernel is loaded): the run is ready."""
        self.last_tick_seconds = 0.0
        """Wall time of the last ``world.step()``."""
        self.stop_signal: int | None = None
        """The signal that stopped the run, if one did."""
        self._stop = False

    def add_hook(self, hook: TickHook) -> None:
        self.hooks.append(hook)

    def service_health(self) -> dict[str, Any]:
        """Each service's current status by name (structs with an ``ok`` field)."""
        return {name: status() for name, status in self.services.items()}

    def stop(self) -> None:
        """Ask the loop to stop after the current tick (signal-safe)."""
        self._stop = True

    def step(self) -> bool:
        """One iteration with every hook; returns whether the world advanced."""
        self.loop_at = time.monotonic()
        for hook in self.hooks:
            hook.before(self.world)
        advance = self.take_tick()
        if advance:
            t0 = time.perf_counter()
            self.world.step(None if self.actions is None else self.actions.actions(self.world))
            self.last_tick_seconds = time.perf_counter() - t0
            self.ticked = True
            self.tally.add(self.world)
            if self.days is not None:
                self.days.add(self.world)
            for hook in self.hooks:
                hook.after(self.world)
        return advance

    def run(self, ticks: int, progress: Callable[[int], None] | None = None) -> RunSummary:
        """Run ``ticks`` ticks (Ctrl-C or SIGTERM stop early) and summarise."""
        start_tick, t0 = self.world.tick, time.perf_counter()
        self.days = DayRecorder(self.world)
        warm: tuple[int, float] | None = None  # rate excludes the first tick (JIT load)

        def on_signal(signum: int, _frame: object) -> None:
            self.stop_signal = signum
            self.stop()
            if signum == signal.SIGINT and warm is None:
                raise KeyboardInterrupt  # no tick yet (the kernel may be compiling): stop now

        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, on_signal)
        try:
            next_due = time.perf_counter()
            while self.world.tick - start_tick < ticks and not self._stop:
                if not self.step():
                    time.sleep(IDLE_SLEEP)  # paused: keep serving hooks, don't spin
                    continue
                if warm is None:
                    warm = (self.world.tick, time.perf_counter())
                if progress is not None:
                    progress(self.world.tick - start_tick)
                if self.target_tps > 0:
                    next_due += 1.0 / self.target_tps
                    time.sleep(max(0.0, next_due - time.perf_counter()))
                else:
                    next_due = time.perf_counter()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        now = time.perf_counter()
        done = self.world.tick - start_tick
        if warm is not None and self.world.tick > warm[0]:
            rate = (self.world.tick - warm[0]) / (now - warm[1])
        else:
            rate = done / (now - t0) if now > t0 else 0.0
        return summarize(self.world, self.tally, done, now - t0, rate, self._stop,
                         self.days.finish(self.world))

    def close(self) -> None:
        for hook in reversed(self.hooks):
            hook.close()
        self.hooks.clear()
