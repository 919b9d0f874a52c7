"""The console server: CURVE + ZAP socket on its own thread, a bounded queue of admitted
requests. ``townlet run`` runs it in the console front process (:mod:`townlet.front`),
whose relay feeds the queue to the simulation over a link; a program can also embed it
in its own simulation process, which then drains the queue at the start of each tick.

With :class:`townlet.sim.loop.Simulation` use :func:`townlet.console.hook.attach`.
Standalone lifecycle (see docs/console.md, "Embedding")::

    control = LoopControl()              # townlet.sim.control: pause/step/pace state
    server = ConsoleServer(cfg.console, registry_path, server_key_file, control=control,
                           snapshot_root=...)
    server.start()                       # ZAP handler first, then bind; returns the endpoint
    while running:
        server.drain(world, cfg.console.max_per_tick)   # start of every tick
        if control.take_tick():
            world.step()
    server.close()

``drain`` runs on the simulation thread and only executes already-validated
requests (at most ``max_n``), encodes their responses and hands them to the
I/O thread; it never blocks on the network or the disk.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from typing import Any, Self

import msgspec
import structlog
import zmq
from prometheus_client import CollectorRegistry

from townlet.config.console import ConsoleConfig
from townlet.console.audit import AuditLog
from townlet.console.context import CommandContext, EventLog, PolicyInfo, Principal
from townlet.console.control import RunControl
from townlet.console.execute import execute, response_encoder
from townlet.console.io import Done, IOThread, Pending
from townlet.console.metrics import ConsoleMetrics
from townlet.console.ratelimit import RateLimiter
from townlet.console.replay import ReplayCache
from townlet.console.summary import TownSummary
from townlet.console.table import Command
from townlet.console.tickrate import TickRate
from townlet.promotion.manager import Promotion
from townlet.security.keys import KeyFileError, load_keypair
from townlet.security.registry import RegistryWatcher
from townlet.security.roles import ALL_ROLES
from townlet.security.sandbox import Sandbox
from townlet.security.zap import RegistryAuthenticator, curve_server_socket
from townlet.wire.console import ErrorBody, Response

__all__ = ["ConsoleServer", "Health"]

_log = structlog.get_logger("townlet.console")
ZAP_DOMAIN = "townlet.console"


class Health(msgspec.Struct):
    """What ``health`` reports."""

    ok: bool
    """False when the registry is unusable, the simulation stopped draining or a
    service (e.g. the publisher) is not ok."""
    tick: int | None
    ticks_per_s: float
    last_drain_age_s: float | None
    paused: bool
    queue_len: int
    queue_capacity: int
    requests: int
    executed: int
    refused: dict[str, int]
    replay_hits: int
    zap_allowed: int
    zap_denied: int
    registry_error: str | None
    uptime_s: float
    audit_failures: int = 0
    """Audit flushes that could not be written (disk full, read-only); lines are still in
    the structured log."""
    audit_error: str | None = None
    """Why the last audit write failed; None once one succeeds again."""
    services: dict[str, Any] = {}
    """Status of each service beside the town by name, e.g. ``publisher`` (state,
    pid, restarts, last exit); each has ``ok`` and ``state`` fields."""


class ConsoleServer:
    """Authenticated operator console for one simulation.

    Parameters
    ----------
    cfg
        The ``console:`` config section (endpoint, queue, limits, audit).
    registry_path
        Key registry file (``townlet keys``); re-read on change.
    server_key_file
        The server's secret certificate (``server.key_secret``, mode 0600).
    control
        What ``pause``/``step``/``speed`` change: normally the ``Simulation``
        (see :func:`townlet.console.hook.attach`), else a
        :class:`townlet.sim.control.LoopControl` the caller's loop consults.
    snapshot_root
        Directory file-taking commands are confined to (``None``: no file commands work).
    endpoint
        Overrides ``cfg.endpoint`` (e.g. ``tcp://127.0.0.1:0`` for a free port).
    table
        The command table (default: :data:`townlet.console.commands.COMMANDS`).
    services
        Returns the status of the services beside the town (``Simulation.service_health``),
        reported by ``health``.
    registry
        Prometheus registry the console's metrics join (the process's exporter serves
        it); a private one when None.
    town
        In the console front process (:mod:`townlet.front`): reads the simulation's
        per-tick summary, which ``health``, ``status`` and the ticks of off-tick answers
        come from. Requests are then executed by the simulation, which the front's relay
        feeds from ``inbound`` and answers through :meth:`deliver`; ``drain`` is unused.
    """

    def __init__(self, cfg: ConsoleConfig, registry_path: str | os.PathLike[str],
                 server_key_file: str | os.PathLike[str], *, control: RunControl,
                 snapshot_root: str | os.PathLike[str] | None = None,
                 endpoint: str | None = None,
                 table: dict[str, Command] | None = None,
                 services: Callable[[], dict[str, Any]] | None = None,
                 registry: CollectorRegistry | None = None,
                 town: Callable[[], TownSummary | None] | None = None) -> None:
        self.cfg = cfg
        self.town = town
        self.services = services
        self.registry_path = os.fspath(registry_path)
        keys = load_keypair(server_key_file)  # fail early, before anything starts
        if keys.secret is None:
            raise KeyFileError(f"{server_key_file} holds no secret key: the console needs the "
                               "server's .key_secret file")
        self._public, self._secret = keys.public, keys.secret
        self.bind_endpoint = endpoint or cfg.endpoint
        if table is None:
            from townlet.console.commands import COMMANDS

            table = COMMANDS
        self.table: dict[str, Command] = table
        self.watcher = RegistryWatcher(self.registry_path)
        self.control = control
        self.policy = PolicyInfo()
        self.promotion: Promotion | None = None
        """Set by a run that serves a learned policy (promotion commands act on it)."""
        self.events = EventLog(cfg.recent_events)
        self.sandbox = Sandbox(snapshot_root) if snapshot_root is not None else None
        self.inbound: queue.Queue[Pending] = queue.Queue(cfg.queue_size)
        self.outbound: queue.SimpleQueue[Done] = queue.SimpleQueue()
        self.limiter = RateLimiter(cfg.rate_per_s, cfg.burst)
        self.replay = ReplayCache(cfg.replay_cache_size, cfg.replay_ttl_s,
                                  cfg.replay_identities)
        self.audit = AuditLog(cfg.audit_path, cfg.audit_max_bytes, cfg.audit_backups)
        self.metrics = ConsoleMetrics(registry if registry is not None else CollectorRegistry())
        self.metrics.watch(self.inbound.qsize, self._denials)
        self.encoder = response_encoder()
        self.stats: dict[str, Any] = {"requests": 0, "executed": 0, "refused": {},
                                      "send_dropped": 0}
        self.last_tick: int | None = None
        self._rate = TickRate()
        self._last_drain: float | None = None
        self._t_start = time.monotonic()
        self.endpoint: str | None = None
        self._ctx: zmq.Context | None = None
        self._auth: RegistryAuthenticator | None = None
        self._io: IOThread | None = None
        self._wake: zmq.Socket | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> str:
        """Start the ZAP handler, bind the CURVE ROUTER, start the I/O thread; return the
        bound endpoint."""
        if self._ctx is not None:
            raise RuntimeError("console server already started")
        ctx = zmq.Context()
        auth = RegistryAuthenticator(self.registry_path, ALL_ROLES, ctx, domain=ZAP_DOMAIN,
                                     label="console", watcher=self.watcher)
        auth.start()
        try:
            router = curve_server_socket(ctx, zmq.ROUTER, auth, self._public, self._secret)
            router.linger = 0
            router.maxmsgsize = 16 * self.cfg.max_request_bytes
            wake_pull = ctx.socket(zmq.PULL)
            wake_pull.bind(f"inproc://townlet-console-wake-{id(self)}")
            self._wake = ctx.socket(zmq.PUSH)
            self._wake.linger = 0
            self._wake.sndhwm = 16
            self._wake.connect(f"inproc://townlet-console-wake-{id(self)}")
            try:
                router.bind(self.bind_endpoint)
            except zmq.ZMQError as exc:
                router.close(0)
                wake_pull.close(0)
                raise RuntimeError(f"console cannot bind {self.bind_endpoint}: {exc}") from None
        except BaseException:
            if self._wake is not None:
                self._wake.close(0)
                self._wake = None
            auth.stop()
            ctx.term()
            raise
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._ctx, self._auth = ctx, auth
        self._io = IOThread(self, router, wake_pull)
        self._io.start()
        _log.info("console_started", endpoint=self.endpoint, registry=self.registry_path)
        return self.endpoint

    def close(self) -> None:
        """Stop the I/O thread and the ZAP handler; pending requests are dropped."""
        if self._io is not None:
            self._io.stop_event.set()
            self._io.join()
            self._io = None
        if self._wake is not None:
            self._wake.close(0)
            self._wake = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        self.audit.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- simulation thread -------------------------------------------------------------
    def drain(self, world: Any, max_n: int | None = None) -> int:
        """Execute up to ``max_n`` queued requests against ``world``; return how many ran.

        Call at the start of every tick, on the simulation thread, also while paused.
        """
        limit = self.cfg.max_per_tick if max_n is None else max_n
        self._observe(world)
        n = 0
        while n < limit:
            try:
                p = self.inbound.get_nowait()
            except queue.Empty:
                break
            self.outbound.put(self._execute(world, p))
            n += 1
        if n:
            self.wake()
        self.stats["executed"] += n
        return n

    def deliver(self, done: list[Done]) -> None:
        """Hand executed requests to the I/O thread (from the thread that executes them:
        ``drain``'s, or the front's relay)."""
        for d in done:
            self.outbound.put(d)
        self.stats["executed"] += len(done)
        self.wake()

    def wake(self) -> None:
        """Tell the I/O thread that replies are waiting."""
        if self._wake is not None:
            try:
                self._wake.send(b"", zmq.NOBLOCK)
            except zmq.Again:
                pass  # the I/O thread already has wake-ups pending

    def _observe(self, world: Any) -> None:
        now = time.monotonic()
        tick = int(world.tick)
        self.last_tick = tick
        self._last_drain = now
        self._rate.observe(now, tick)
        self.events.observe(world)

    def recheck(self, p: Pending, tick: int | None) -> Done | None:
        """Refuse a queued request whose key was revoked or expired while it waited (None:
        the key is still valid)."""
        check = self.watcher.check_key_id(p.principal.key_id)
        if check.ok:
            return None
        self.metrics.auth_failures.labels(check.status.value).inc()
        resp = Response(p.request.cmd_id, False, None,
                        ErrorBody("E_UNAUTHORIZED", f"your key is {check.status.value}"), tick)
        return Done(p, self.encoder.encode(resp), "E_UNAUTHORIZED", "key not valid", tick)

    def _execute(self, world: Any, p: Pending) -> Done:
        tick = int(world.tick)
        refused = self.recheck(p, tick)
        if refused is not None:
            return refused
        with structlog.contextvars.bound_contextvars(identity=p.principal.identity):
            out = execute(p.command, self.context(world, p.principal), p.params,
                          p.request.cmd_id, tick, self.encoder)
        return Done(p, out.payload, out.code, out.message, tick)

    def context(self, world: Any, principal: Principal) -> CommandContext:
        """What a handler sees (``world`` is None for commands answered off-tick)."""
        return CommandContext(world=world, principal=principal, control=self.control,
                              events=self.events, policy=self.policy, sandbox=self.sandbox,
                              table=self.table, tick_rate=self._rate.rate, health=self.health,
                              registry=self.watcher, promotion=self.promotion, town=self.town)

    def current_tick(self) -> int | None:
        """The simulation's tick as last seen (the summary's in the front process)."""
        if self.town is None:
            return self.last_tick
        summary = self.town()
        return None if summary is None else summary.tick

    # -- facts -------------------------------------------------------------------------
    def _denials(self) -> dict[str, int]:
        """Handshakes the ZAP handler refused, by reason (empty before ``start``)."""
        auth = self._auth
        return dict(auth.credentials.denied_by) if auth is not None else {}

    def health(self) -> Health:
        """Current health numbers (safe to call from any thread)."""
        now = time.monotonic()
        self.watcher.current()
        err = self.watcher.error
        creds = self._auth.credentials if self._auth is not None else None
        summary = self.town() if self.town is not None else None
        if self.town is None:
            drained, tick, rate = self._last_drain, self.last_tick, self._rate.rate
            services = self.services() if self.services is not None else {}
            paused, services_ok = self.control.paused, all(s.ok for s in services.values())
        elif summary is None:  # the simulation has not written its first summary yet
            drained, tick, rate, services, paused, services_ok = None, None, 0.0, {}, False, False
        else:
            drained, tick, rate = summary.at, summary.tick, summary.ticks_per_s
            services, paused = summary.slow.services, summary.paused
            services_ok = all(s.get("ok") is True for s in services.values())
        age = None if drained is None else round(now - drained, 3)
        return Health(
            ok=(err is None and (age is not None and age < 5.0) and self.audit.error is None
                and services_ok),
            tick=tick, ticks_per_s=round(rate, 3), last_drain_age_s=age,
            paused=paused, queue_len=self.inbound.qsize(),
            queue_capacity=self.cfg.queue_size, requests=self.stats["requests"],
            executed=self.stats["executed"], refused=dict(self.stats["refused"]),
            replay_hits=self.replay.hits, zap_allowed=creds.allowed if creds else 0,
            zap_denied=creds.denied if creds else 0, registry_error=err,
            uptime_s=round(now - self._t_start, 3), services=services,
            audit_failures=self.audit.failures, audit_error=self.audit.error)
