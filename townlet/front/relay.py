"""The front's relay: admitted requests to the simulation in batches, results back.

At most one batch is in flight, so the simulation (which takes at most one batch per tick)
executes requests in the order the front admitted them. Before a request is forwarded its
key is checked again (it may have been revoked while it waited). The relay runs on the front
process's main thread beside the console's I/O thread; it ends when asked to, or when the
simulation that started the front is gone (the front is then reparented), so a front never
outlives its town.
"""

from __future__ import annotations

import os
import queue
import threading
import time

import msgspec
import structlog
import zmq

from townlet.console.commands import COMMANDS
from townlet.console.io import Done, Pending
from townlet.console.link import Batch, BatchReply, LinkError, LinkItem
from townlet.console.server import ConsoleServer
from townlet.console.table import Command
from townlet.wire.console import ErrorBody, Response

__all__ = ["POLL_SECONDS", "Relay", "front_table"]

_log = structlog.get_logger("townlet.front")

POLL_SECONDS = 0.05
"""Longest wait for a request or a reply before the relay looks at its parent again."""


def front_table() -> dict[str, Command]:
    """The command table as the front serves it: ``status`` is answered from the summary
    the simulation publishes every tick, so it costs the tick nothing."""
    return {**COMMANDS, "status": msgspec.structs.replace(COMMANDS["status"], local=True)}


class Relay:
    """Feeds ``server``'s admitted requests to the simulation at ``link``."""

    def __init__(self, server: ConsoleServer, link: str, parent_pid: int) -> None:
        self.server = server
        self.parent_pid = parent_pid
        self.stop = threading.Event()
        self.loop_at = time.monotonic()
        """When the relay last turned (the front's liveness)."""
        self.batches = 0
        self._ctx = zmq.Context(io_threads=1)
        self.sock = self._ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(link)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(BatchReply | LinkError)
        self._flight: dict[int, Pending] = {}

    def parent_alive(self) -> bool:
        """False once the simulation that started this front has exited."""
        return os.getppid() == self.parent_pid

    def run(self) -> None:
        """Relay until :attr:`stop` is set or the simulation is gone."""
        try:
            while not self.stop.is_set() and self.parent_alive():
                self.loop_at = time.monotonic()
                if self._flight:
                    if self.sock.poll(int(POLL_SECONDS * 1000)):
                        self._answer(self.sock.recv())
                else:
                    self._forward()
        finally:
            self.sock.close(0)
            self._ctx.term()

    def _forward(self) -> None:
        """Send the next batch (waiting a moment for the first request)."""
        s = self.server
        try:
            first = s.inbound.get(timeout=POLL_SECONDS)
        except queue.Empty:
            return
        batch = [first]
        while len(batch) < s.cfg.max_per_tick:
            try:
                batch.append(s.inbound.get_nowait())
            except queue.Empty:
                break
        tick = s.current_tick()
        refused: list[Done] = []
        items: list[LinkItem] = []
        for n, p in enumerate(batch):
            no = s.recheck(p, tick)
            if no is not None:
                refused.append(no)
                continue
            self._flight[n] = p
            items.append(LinkItem(n, p.principal, p.request))
        if refused:
            s.deliver(refused)
        if items:
            self.sock.send(self._encoder.encode(Batch(items)))
            self.batches += 1

    def _answer(self, msg: bytes) -> None:
        """Hand a batch's results to the I/O thread; a reply that cannot be read fails
        the batch's requests with E_INTERNAL (both are logged)."""
        try:
            reply = self._decoder.decode(msg)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            reply = LinkError(f"unreadable reply from the simulation: {exc}")
            _log.error("console_link_bad_reply", error=reply.message)
        flight, self._flight = self._flight, {}
        done: list[Done] = []
        if isinstance(reply, BatchReply):
            for r in reply.results:
                p = flight.pop(r.n, None)
                if p is not None:
                    done.append(Done(p, r.payload, r.code, r.message, r.tick))
        else:
            _log.error("console_link_refused", error=reply.message)
        why = reply.message if isinstance(reply, LinkError) else "missing from its reply"
        for p in flight.values():  # not in the reply: answered, never left waiting
            text = f"the simulation did not run this request ({why})"
            resp = Response(p.request.cmd_id, False, None, ErrorBody("E_INTERNAL", text))
            done.append(Done(p, self.server.encoder.encode(resp), "E_INTERNAL", text, None))
        self.server.deliver(done)
