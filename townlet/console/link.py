"""The simulation's end of the channel to its console front process.

The front process (``townlet.front``) owns the public socket: CURVE, the ZAP handler,
decoding, roles, rate limits, the replay cache and the audit log. It forwards only
admitted, authorised requests here, in batches over a ZeroMQ ``ipc://`` socket in an
owner-only (0700) run directory. :class:`ConsoleLink` is a tick hook: at the start of every
loop iteration, on the simulation thread, it takes at most one batch (a non-blocking look
at the socket when there is none), executes it against the world, writes the town's
summary (:mod:`townlet.console.summary`, which the front answers ``status`` and ``health``
from) and sends the results back. No thread of the simulation process serves the console,
so nothing contends with the tick for the GIL.

Messages are msgpack: the front sends :class:`Batch`, the simulation answers
:class:`BatchReply`, or :class:`LinkError` (and logs it) for bytes it cannot read; the
channel and both processes survive a bad message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import msgspec
import numpy as np
import structlog
import zmq

from townlet.config.console import ConsoleConfig
from townlet.console.context import CommandContext, EventLog, PolicyInfo, Principal
from townlet.console.control import RunControl
from townlet.console.errors import CommandError
from townlet.console.execute import Outcome, execute, response_encoder
from townlet.console.io import fingerprint
from townlet.console.replay import ReplayCache
from townlet.console.summary import Slow, SummaryWriter
from townlet.console.table import Command, bind
from townlet.console.tickrate import TickRate
from townlet.promotion.manager import Promotion
from townlet.security.registry import RegistryWatcher
from townlet.security.roles import role_allows
from townlet.security.sandbox import Sandbox
from townlet.wire.console import ErrorBody, Request, Response

__all__ = ["LINK_FILE", "SUMMARY_FILE", "Batch", "BatchReply", "ConsoleLink", "LinkError",
           "LinkItem", "LinkResult", "link_endpoint", "make_run_dir"]

_log = structlog.get_logger("townlet.console.link")

LINK_FILE = "link.sock"
SUMMARY_FILE = "summary"
SLOW_SECONDS = 0.25
"""Longest time between two refreshes of the summary's slow fields (services' states)."""


class LinkItem(msgspec.Struct, array_like=True):
    """One admitted request: its number in the front's batch, caller and envelope."""

    n: int
    principal: Principal
    request: Request


class Batch(msgspec.Struct, tag="batch", array_like=True):
    """Requests the simulation executes in one tick, in order."""

    items: list[LinkItem]


class LinkResult(msgspec.Struct, array_like=True):
    """How one request ended: the encoded response and what the audit log records."""

    n: int
    payload: bytes
    code: str
    message: str | None
    tick: int | None


class BatchReply(msgspec.Struct, tag="reply", array_like=True):
    results: list[LinkResult]


class LinkError(msgspec.Struct, tag="error", array_like=True):
    """The simulation could not read a message (it logged why, with the same text)."""

    message: str


def link_endpoint(run_dir: str | os.PathLike[str]) -> str:
    """The ``ipc://`` endpoint of the link in ``run_dir``."""
    return f"ipc://{Path(run_dir) / LINK_FILE}"


def make_run_dir(parent: str | os.PathLike[str] | None = None) -> Path:
    """A new owner-only (0700) directory for the link socket and the summary."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="townlet-console-", dir=parent))
    os.chmod(d, 0o700)
    return d


class ConsoleLink:
    """Executes the front's batches on the simulation thread; the simulation's ``console``.

    ``policy`` and ``promotion`` are set by a run that serves a learned policy, as on
    :class:`~townlet.console.server.ConsoleServer`; ``endpoint`` is the front's public
    endpoint once it reported ready.
    """

    def __init__(self, cfg: ConsoleConfig, run_dir: str | os.PathLike[str], *,
                 registry_path: str | os.PathLike[str], control: RunControl,
                 services: Callable[[], dict[str, Any]],
                 snapshot_root: str | os.PathLike[str] | None = None,
                 table: dict[str, Command] | None = None) -> None:
        if table is None:
            from townlet.console.commands import COMMANDS

            table = COMMANDS
        self.table = table
        self.cfg = cfg
        self.control = control
        self.services = services
        self.policy = PolicyInfo()
        self.promotion: Promotion | None = None
        self.events = EventLog(cfg.recent_events)
        self.sandbox = Sandbox(snapshot_root) if snapshot_root is not None else None
        self.watcher = RegistryWatcher(registry_path)  # read only by commands that use it
        self.replay = ReplayCache(cfg.replay_cache_size, cfg.replay_ttl_s,
                                  cfg.replay_identities)
        """Results of mutating commands, so that a retry through a restarted front (whose
        replay cache started empty) gets the first result instead of running again."""
        self.endpoint: str | None = None
        self.run_dir = Path(run_dir)
        self.encoder = response_encoder()
        self.batches = 0
        self.bad_messages = 0
        self._rate = TickRate()
        self._slow_at = 0.0
        self._start_tick: int | None = None  # the tick of the first summary
        self._ticked = False  # the slow fields were refreshed after the first tick
        self._decoder = msgspec.msgpack.Decoder(Batch)
        self._reply = msgspec.msgpack.Encoder()
        self.summary = SummaryWriter(self.run_dir / SUMMARY_FILE)
        self._ctx = zmq.Context(io_threads=1)
        self.sock = self._ctx.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.maxmsgsize = 16 * cfg.max_request_bytes * cfg.max_per_tick
        self.sock.bind(link_endpoint(self.run_dir))

    # -- tick hook ----------------------------------------------------------------------
    def before(self, world: Any) -> None:
        """Take at most one batch, execute it, publish the summary, answer."""
        now = time.monotonic()
        self._observe(world, now)
        reply = None
        if cast(int, self.sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN:  # ~0.3 us, no syscall
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                frames = []
            if frames:
                reply = (frames[0], self._serve(world, frames))
        self.publish(world, now, slow=reply is not None)
        if reply is not None:
            try:
                self.sock.send_multipart(reply, zmq.NOBLOCK)
            except zmq.Again:  # the front is gone; its successor starts afresh
                _log.warning("console_link_reply_dropped")

    def publish(self, world: Any, now: float, *, slow: bool = True) -> None:
        """Write the summary (its slow fields too when ``slow`` or when they are due);
        ``townlet.front`` calls it once before the first tick, so the front can answer
        ``status`` while the kernel still loads."""
        fields = None
        tick = int(world.tick)
        if self._start_tick is None:
            self._start_tick = tick
        # services change state with the first tick (the kernel loaded): refresh then too
        first = not self._ticked and tick > self._start_tick
        if slow or first or now - self._slow_at >= SLOW_SECONDS:
            fields, self._slow_at = self._slow(world), now
            self._ticked = self._ticked or first
        self.summary.write(tick, int(np.count_nonzero(world.alive)),
                           self.control.paused, self.control.target_tps, self._rate.rate,
                           fields)

    def after(self, world: Any) -> None:
        """Nothing after a tick: batches are taken before it."""

    def close(self) -> None:
        self.sock.close(0)
        self._ctx.term()
        self.summary.close()

    # -- one batch ----------------------------------------------------------------------
    def _observe(self, world: Any, now: float) -> None:
        tick = int(world.tick)
        self._rate.observe(now, tick)
        self.events.observe(world)

    def _slow(self, world: Any) -> Slow:
        services = {name: msgspec.to_builtins(s) for name, s in self.services().items()}
        return Slow(capacity=int(world.n_agents), config_id=str(world.config_id),
                    services=services)

    def _serve(self, world: Any, frames: list[bytes]) -> bytes:
        if len(frames) != 2:
            return self._bad(f"expected one frame per message, got {len(frames) - 1}")
        try:
            batch = self._decoder.decode(frames[1])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return self._bad(f"not a batch of console requests: {exc}")
        self.batches += 1
        tick = int(world.tick)
        out = [LinkResult(item.n, *self._run(world, item, tick)) for item in batch.items]
        return self._reply.encode(BatchReply(out))

    def _bad(self, message: str) -> bytes:
        self.bad_messages += 1
        _log.error("console_link_bad_message", error=message)
        return self._reply.encode(LinkError(message))

    def _run(self, world: Any, item: LinkItem, tick: int) -> tuple[bytes, str, str | None,
                                                                   int | None]:
        req, pr = item.request, item.principal
        cmd = self.table.get(req.name)
        if cmd is None or cmd.local or not role_allows(pr.role, cmd.role):
            # the front admits none of these; refuse rather than trust a confused peer
            msg = f"{req.name!r} is not a command the simulation runs for role {pr.role}"
            return self._error(req.cmd_id, "E_FORBIDDEN", msg, tick)
        try:
            params = bind(cmd, req.args, req.kwargs)
        except CommandError as exc:
            return self._error(req.cmd_id, exc.code, exc.message, tick)
        if cmd.mutates:  # a front that restarted forgot its replay cache; this one did not
            fp = fingerprint(req)
            seen = self.replay.get(pr.identity, req.cmd_id)
            if seen is not None and seen.fingerprint != fp:
                return self._error(req.cmd_id, "E_CONFLICT", f"cmd_id {req.cmd_id!r} was "
                                   "already used for a different command or arguments", tick)
            if seen is not None and seen.response is not None:
                return seen.response, "OK", "replayed", tick
            self.replay.add(pr.identity, req.cmd_id, fp)
        with structlog.contextvars.bound_contextvars(identity=pr.identity):
            out: Outcome = execute(cmd, self.context(world, pr), params, req.cmd_id, tick,
                                   self.encoder)
        if cmd.mutates:
            self.replay.complete(pr.identity, req.cmd_id, out.payload)
        return out.payload, out.code, out.message, tick

    def _error(self, cmd_id: str, code: str, message: str,
               tick: int) -> tuple[bytes, str, str | None, int | None]:
        resp = Response(cmd_id, False, None, ErrorBody(code, message), tick)
        return self.encoder.encode(resp), code, message, tick

    def context(self, world: Any, principal: Principal) -> CommandContext:
        """What a handler run by the simulation sees (``health`` is the front's: the
        commands that report it run there)."""
        return CommandContext(world=world, principal=principal, control=self.control,
                              events=self.events, policy=self.policy, sandbox=self.sandbox,
                              table=self.table, tick_rate=self._rate.rate, health=None,
                              registry=self.watcher, promotion=self.promotion)
