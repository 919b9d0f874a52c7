"""The console's network thread: receive, authenticate, authorise, validate, queue, reply, audit.

Everything that can be decided without the world is decided here, so a flood
of bad or excessive requests costs the simulation nothing: per-request key
re-check (E_UNAUTHORIZED), rate limit (E_RATE_LIMITED), size (E_TOO_LARGE),
envelope decoding (E_USAGE), command lookup (E_UNSUPPORTED), role check
(E_FORBIDDEN), argument binding (E_USAGE / E_INVALID_ARG), cmd_id replay
(cached response or E_CONFLICT) and admission to the bounded queue (E_BUSY).
Replies computed on the simulation thread come back through ``outbound`` and
are audited and sent here: each loop iteration writes its audit lines before it
sends the replies they record. The caller's key is established first, so every refusal,
even of a request that is never decoded, is audited with the identity.

Nothing that goes wrong with one request or reply stops this thread: an unexpected
exception is logged with its traceback, answered ``E_INTERNAL`` and the loop goes on
(otherwise one bad request would leave every client without answers).
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
import zmq

from townlet.console.audit import AuditRecord, redact
from townlet.console.context import Principal
from townlet.console.errors import CommandError
from townlet.console.execute import execute
from townlet.console.table import Command, bind
from townlet.security.registry import KeyStatus
from townlet.security.roles import role_allows
from townlet.wire.console import (
    ErrorBody,
    Request,
    Response,
    decode_request,
    encode,
    salvage_cmd_id,
)

if TYPE_CHECKING:
    from townlet.console.server import ConsoleServer

__all__ = ["Done", "IOThread", "Pending", "fingerprint"]

_log = structlog.get_logger("townlet.console.io")
_BATCH = 256
_UNAUTHORIZED = {
    KeyStatus.REVOKED: "your key was revoked",
    KeyStatus.EXPIRED: "your key has expired; ask for a new one",
    KeyStatus.UNKNOWN: "your key is not in the registry",
    KeyStatus.UNAVAILABLE: "the key registry is unavailable; refusing all requests",
}


class Pending(msgspec.Struct):
    """An admitted request waiting for the simulation."""

    rid: bytes
    principal: Principal
    request: Request
    command: Command
    params: Any
    t0: float


class Done(msgspec.Struct):
    """A request the simulation executed: the encoded response and how it went."""

    pending: Pending
    response: bytes
    code: str
    message: str | None
    tick: int | None


def fingerprint(req: Request) -> bytes:
    """What a repeated cmd_id must match to get the first response (else E_CONFLICT)."""
    return hashlib.sha256(msgspec.msgpack.encode((req.name, req.args, req.kwargs))).digest()


class IOThread(threading.Thread):
    """Owns the ROUTER socket; never touches the world."""

    def __init__(self, server: ConsoleServer, router: zmq.Socket, wake: zmq.Socket) -> None:
        super().__init__(name="townlet-console-io", daemon=True)
        self.s = server
        self.router = router
        self.wake = wake
        self.stop_event = threading.Event()
        self._out: list[tuple[bytes, bytes]] = []

    # -- loop ---------------------------------------------------------------------------
    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.wake, zmq.POLLIN)
        try:
            while not self.stop_event.is_set():
                events = dict(poller.poll(50))
                if self.wake in events:
                    while True:
                        try:
                            self.wake.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                self._flush()
                if self.router in events:
                    for _ in range(_BATCH):
                        try:
                            frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._handle(frames)
                    self._flush()
                self._commit()
            self._flush()
            self._commit()
        finally:
            self.router.close(0)
            self.wake.close(0)

    # -- replies ------------------------------------------------------------------------
    def _send(self, rid: bytes, payload: bytes) -> None:
        """Queue a reply; :meth:`_commit` sends it once its audit line is written."""
        self._out.append((rid, payload))

    def _commit(self) -> None:
        """Write the buffered audit lines, then send the replies they record: a client
        never holds an answer whose audit line a crash could still lose."""
        self.s.audit.flush()
        out, self._out = self._out, []
        for rid, payload in out:
            try:
                self.router.send_multipart([rid, payload], zmq.NOBLOCK)
            except zmq.Again:
                self.s.stats["send_dropped"] += 1

    def _refuse(self, rid: bytes, t0: float, code: str, message: str, *, cmd_id: str = "",
                principal: Principal | None = None, req: Request | None = None) -> None:
        self.s.stats["refused"][code] = self.s.stats["refused"].get(code, 0) + 1
        self._send(rid, encode(Response(cmd_id=cmd_id, ok=False,
                                        error=ErrorBody(code=code, message=message))))
        self._audit(t0, principal, req, cmd_id, code, message, None)

    def _audit(self, t0: float, pr: Principal | None, req: Request | None, cmd_id: str,
               code: str, message: str | None, tick: int | None, replay: bool = False,
               mutates: bool = False) -> None:
        args, kwargs = redact(req.args, req.kwargs) if req is not None else (None, None)
        seconds = time.perf_counter() - t0
        command = ("unparsed" if req is None else req.name if req.name in self.s.table
                   else "unknown")
        self.s.metrics.requests.labels(command, code).inc()
        self.s.metrics.latency.observe(seconds)
        self.s.audit.write(AuditRecord(
            ts=self.s.audit.now(), identity=pr.identity if pr else None,
            key_id=pr.key_id if pr else None, role=pr.role if pr else None,
            command=req.name if req is not None else None, cmd_id=cmd_id, args=args,
            kwargs=kwargs, code=code, duration_ms=round(seconds * 1e3, 3),
            tick=tick, replay=replay, message=message), mutates)

    def _flush(self) -> None:
        """Send and audit every response the simulation produced."""
        while True:
            try:
                done: Done = self.s.outbound.get_nowait()
            except queue.Empty:
                return
            try:
                self._reply(done)
            except Exception as exc:  # noqa: BLE001 - one bad reply must not stop the rest
                _log.error("console_reply_failed", command=done.pending.command.name,
                           cmd_id=done.pending.request.cmd_id, exc_info=exc)

    def _reply(self, done: Done) -> None:
        """Send one executed request's response (and to duplicates waiting), audit it."""
        p = done.pending
        self._answer(p.principal, p.request, p.command, p.rid, done.response)
        if done.code != "OK":
            refused = self.s.stats["refused"]
            refused[done.code] = refused.get(done.code, 0) + 1
        self._audit(p.t0, p.principal, p.request, p.request.cmd_id, done.code,
                    done.message, done.tick, mutates=p.command.mutates)

    def _answer(self, pr: Principal, req: Request, cmd: Command, rid: bytes,
                payload: bytes) -> None:
        """Send a command's response to its caller and to duplicates waiting for it. The
        replay entry is completed first, so a failure while sending can never leave a
        retry of the cmd_id waiting for an answer that will not come."""
        waiters = (self.s.replay.complete(pr.identity, req.cmd_id, payload) if cmd.mutates
                   else [])
        for r in (rid, *waiters):
            self._send(r, payload)

    # -- one request --------------------------------------------------------------------
    def _handle(self, frames: list[zmq.Frame]) -> None:
        """Answer one request; an unexpected failure is logged with its traceback and
        answered E_INTERNAL, and the thread goes on serving."""
        t0 = time.perf_counter()
        self.s.stats["requests"] += 1
        rid = frames[0].bytes
        pr: Principal | None = None
        try:
            pr = self._caller(rid, t0, frames[-1])
            if pr is not None:
                with structlog.contextvars.bound_contextvars(identity=pr.identity):
                    self._admit(rid, t0, pr, frames)
        except Exception as exc:  # noqa: BLE001 - this thread answers every client: keep it
            _log.error("console_request_failed", identity=pr.identity if pr else None,
                       exc_info=exc)
            try:
                self._refuse(rid, t0, "E_INTERNAL", "the server failed on this request: "
                             f"{type(exc).__name__} (logged)", principal=pr)
            except Exception:  # noqa: BLE001 - e.g. the audit failed too; logged, go on
                _log.error("console_refusal_failed", exc_info=True)

    def _caller(self, rid: bytes, t0: float, frame: zmq.Frame) -> Principal | None:
        """Who sent ``frame`` (ZAP User-Id = key id), or None after refusing the request
        (key not valid: E_UNAUTHORIZED; over the rate: E_RATE_LIMITED)."""
        s = self.s
        try:
            user_id = str(frame.get("User-Id"))
        except zmq.ZMQError:  # no ZAP User-Id: never admitted by our handler
            user_id = ""
        check = s.watcher.check_key_id(user_id)
        rec = check.record
        pr = Principal(rec.name, rec.key_id, rec.role) if rec is not None else None
        if not check.ok:
            s.metrics.auth_failures.labels(check.status.value).inc()
            self._refuse(rid, t0, "E_UNAUTHORIZED", _UNAUTHORIZED[check.status],
                         cmd_id=salvage_cmd_id(frame.buffer), principal=pr)
            return None
        assert pr is not None
        wait = s.limiter.take(pr.identity)
        if wait > 0:
            s.metrics.rate_limited.inc()
            self._refuse(rid, t0, "E_RATE_LIMITED", f"rate limit reached; retry in {wait:.3f} s",
                         cmd_id=salvage_cmd_id(frame.buffer), principal=pr)
            return None
        return pr

    def _admit(self, rid: bytes, t0: float, pr: Principal, frames: list[zmq.Frame]) -> None:
        """Check the envelope (one frame, size, decoding), then dispatch."""
        s = self.s
        if len(frames) != 2:
            self._refuse(rid, t0, "E_USAGE", "send exactly one frame per request",
                         principal=pr)
            return
        body = frames[1]
        if len(body) > s.cfg.max_request_bytes:
            self._refuse(rid, t0, "E_TOO_LARGE", f"request of {len(body)} bytes exceeds the "
                         f"{s.cfg.max_request_bytes}-byte limit", principal=pr)
            return
        try:
            req = decode_request(body.buffer)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._refuse(rid, t0, "E_USAGE", f"bad request envelope: {exc}",
                         cmd_id=salvage_cmd_id(body.buffer), principal=pr)
            return
        self._dispatch(rid, t0, pr, req)

    def _dispatch(self, rid: bytes, t0: float, pr: Principal, req: Request) -> None:
        s = self.s
        cmd = s.table.get(req.name)
        if cmd is None:
            self._refuse(rid, t0, "E_UNSUPPORTED", f"unknown command {req.name!r}; try 'help'",
                         cmd_id=req.cmd_id, principal=pr, req=req)
            return
        if not role_allows(pr.role, cmd.role):
            s.metrics.auth_failures.labels("role").inc()
            self._refuse(rid, t0, "E_FORBIDDEN", f"{cmd.name!r} needs role {cmd.role}; "
                         f"you are {pr.role}", cmd_id=req.cmd_id, principal=pr, req=req)
            return
        try:
            params = bind(cmd, req.args, req.kwargs)
        except CommandError as exc:
            self._refuse(rid, t0, exc.code, exc.message, cmd_id=req.cmd_id, principal=pr,
                         req=req)
            return
        if cmd.mutates:
            fp = fingerprint(req)
            entry = s.replay.get(pr.identity, req.cmd_id)
            if entry is not None:
                if entry.fingerprint != fp:
                    self._refuse(rid, t0, "E_CONFLICT", f"cmd_id {req.cmd_id!r} was already "
                                 "used for a different command or arguments",
                                 cmd_id=req.cmd_id, principal=pr, req=req)
                elif entry.response is not None:
                    s.replay.hits += 1
                    self._send(rid, entry.response)
                    self._audit(t0, pr, req, req.cmd_id, "OK", "replayed", None, replay=True)
                else:
                    s.replay.hits += 1
                    entry.waiters.append(rid)
                return
            s.replay.add(pr.identity, req.cmd_id, fp)
        if cmd.local:
            self._run_local(rid, t0, pr, req, cmd, params)
            return
        try:
            s.inbound.put_nowait(Pending(rid, pr, req, cmd, params, t0))
        except queue.Full:
            if cmd.mutates:
                s.replay.forget(pr.identity, req.cmd_id)
            self._refuse(rid, t0, "E_BUSY", f"request queue full ({s.cfg.queue_size}); "
                         "retry shortly", cmd_id=req.cmd_id, principal=pr, req=req)

    def _run_local(self, rid: bytes, t0: float, pr: Principal, req: Request, cmd: Command,
                   params: Any) -> None:
        s = self.s
        tick = s.current_tick()
        out = execute(cmd, s.context(None, pr), params, req.cmd_id, tick, s.encoder)
        self._answer(pr, req, cmd, rid, out.payload)
        if out.code != "OK":
            s.stats["refused"][out.code] = s.stats["refused"].get(out.code, 0) + 1
        self._audit(t0, pr, req, req.cmd_id, out.code, out.message, tick, mutates=cmd.mutates)
