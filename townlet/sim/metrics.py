"""Prometheus metrics and probes of the simulation process (``ops.http_port``).

``MetricsHook`` is the first tick hook: after every tick it observes the tick's
duration and counts it (two cheap calls); once per ``SAMPLE_SECONDS`` of wall time
it samples the population, the cumulative death/faint/exit counters (``stats``),
the object queues (one ``bincount`` over objects) and the exit queue. Nothing
runs per agent and nothing is read from another thread. The console's metrics
(``townlet.console.metrics``) join the same registry, so one exporter serves the
whole process. docs/ops/metrics.md lists every name and a test checks it.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from townlet.sim.loop import Simulation
from townlet.world import World
from townlet.world.state import STAT, ExitMeta
from townlet.world.town import OBJ_NAMES

__all__ = ["SAMPLE_SECONDS", "MetricsHook", "TownStatus", "probes"]

SAMPLE_SECONDS = 1.0
"""How often the population, counters and queues are sampled (wall time)."""
_P = "townlet_sim_"
TICK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
SAVE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
COUNTED = ("deaths", "faints", "exits", "respawns")
"""``stats`` counters exported as Prometheus counters (``townlet_sim_<name>_total``)."""


class TownStatus(msgspec.Struct, kw_only=True):
    """The town's part of ``health`` (``services.town``), sampled on the simulation
    thread at most ``SAMPLE_SECONDS`` ago."""

    ok: bool = True
    state: str = "starting"
    """``starting`` (no tick yet), ``running`` or ``paused``."""
    tick: int = 0
    population: int = 0
    last_tick_ms: float = 0.0
    perturbations_active: int = 0
    perturbations_pending: int = 0
    """Scheduled perturbations that have not started yet."""
    queue_waiting: int = 0
    """Agents waiting in object queues."""
    exit_queue: int = 0


class MetricsHook:
    """Tick hook exporting the simulation's metrics on ``sim.registry``."""

    def __init__(self, sim: Simulation) -> None:
        r = sim.registry
        self.sim = sim
        self.tick_seconds = Histogram(_P + "tick_seconds", "Wall time of one world step",
                                      buckets=TICK_BUCKETS, registry=r)
        self.ticks = Counter(_P + "ticks", "Ticks run by this process", registry=r)
        self.tick = Gauge(_P + "tick", "Current tick of the world", registry=r)
        self.population = Gauge(_P + "population", "Agents alive", registry=r)
        self.capacity = Gauge(_P + "capacity", "Agent slots of the town", registry=r)
        self.counted = {name: Counter(_P + name, f"Agent {name} since this process started",
                                      registry=r) for name in COUNTED}
        self.queue = Gauge(_P + "queue_waiting", "Agents waiting in object queues, by object "
                           "type", ["object"], registry=r)
        self.exit_queue = Gauge(_P + "exit_queue_length", "Agents waiting to leave the town",
                                registry=r)
        self.autosave_seconds = Histogram(_P + "autosave_seconds",
                                          "Time to write one autosave (background thread)",
                                          buckets=SAVE_BUCKETS, registry=r)
        self.autosave_failures = Counter(_P + "autosave_failures",
                                         "Autosaves that could not be written", registry=r)
        self._stat_index = [STAT.index(name) for name in COUNTED]
        self._last_stats: np.ndarray | None = None
        self._next_sample = 0.0
        self.town = TownStatus()
        """The last sample (replaced whole, so other threads read a consistent one)."""

    def before(self, world: World) -> None:
        """Nothing before the step: the loop times the step itself."""

    def after(self, world: World) -> None:
        self.tick_seconds.observe(self.sim.last_tick_seconds)
        self.ticks.inc()
        now = time.monotonic()
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_SECONDS
            self.sample(world)

    def sample(self, world: World) -> None:
        """Read the population, counters and queues (on the simulation thread)."""
        self.tick.set(world.tick)
        alive = int(np.count_nonzero(world.view("agent_alive")))
        self.population.set(alive)
        self.capacity.set(world.n_agents)
        stats = world.view("stats")[self._stat_index].copy()
        if self._last_stats is not None:  # counters start at this process's first sample
            for name, delta in zip(COUNTED, (stats - self._last_stats).tolist(), strict=True):
                if delta > 0:
                    self.counted[name].inc(delta)
        self._last_stats = stats
        kind = world.view("obj_type")
        used = kind >= 0
        waiting = np.bincount(kind[used], weights=world.view("obj_q_len")[used],
                              minlength=len(OBJ_NAMES))
        for name, n in zip(OBJ_NAMES, waiting.tolist(), strict=True):
            self.queue.labels(name).set(n)
        exits = int(world.view("exit_meta")[ExitMeta.LENGTH])
        self.exit_queue.set(exits)
        kinds, starts = world.view("pert_kind"), world.view("pert_start")
        busy = kinds >= 0
        pending = int(np.count_nonzero(busy & (starts > world.tick)))
        self.town = TownStatus(
            state="paused" if self.sim.paused else "running", tick=int(world.tick),
            population=alive,
            last_tick_ms=round(self.sim.last_tick_seconds * 1e3, 3),
            perturbations_active=int(np.count_nonzero(busy)) - pending,
            perturbations_pending=pending, queue_waiting=int(waiting.sum()), exit_queue=exits)

    def status(self) -> TownStatus:
        """The last sample, for ``health`` (any thread)."""
        return self.town

    def watch_autosave(self, saver: Any) -> None:
        """Observe the duration and failures of ``saver`` (an Autosaver)."""
        saver.observe = self._saved

    def _saved(self, seconds: float, ok: bool) -> None:
        if ok:
            self.autosave_seconds.observe(seconds)
        else:
            self.autosave_failures.inc()

    def close(self) -> None:
        """Nothing to release (the exporter belongs to the process)."""


def probes(sim: Simulation, stall_seconds: float):
    """``(live, ready)`` probes of a simulation for :class:`townlet.ops.http.ProbeServer`.

    Live: the loop turned within ``stall_seconds`` (before the first turn, while the
    kernel loads, it counts as starting). Ready: a tick completed and the publisher,
    if any, is up (a failing autosave degrades ``health`` but does not unready it).
    """

    def live() -> tuple[bool, str]:
        at = sim.loop_at
        if at is None:
            return True, "starting"
        age = time.monotonic() - at
        return age < stall_seconds, f"loop turned {age:.1f}s ago"

    def ready() -> tuple[bool, str]:
        if not sim.ticked:
            return False, "no tick yet (loading the kernel)"
        publisher = sim.service_health().get("publisher")
        if publisher is not None and not publisher.ok:
            return False, f"publisher {publisher.state}"
        return True, f"tick {sim.world.tick}"

    return live, ready
