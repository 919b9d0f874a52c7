"""``ConsoleClient``: call console commands over CURVE with typed errors, timeouts and retries.

Example::

    from townlet.client import ConsoleClient
    with ConsoleClient("tcp://sim:7571", "keys/server.key", "me.key_secret") as c:
        print(c.call("status"))
        c.call("teleport", 12, x=40, y=7)      # raises BlockedTile, NotFound, Forbidden, ...

Each request carries a fresh ``cmd_id``; when a connected request times out
the client reconnects and resends the *same* ``cmd_id``, so a state-changing
command runs at most once (the server replays its first result).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any, Self

import msgspec
import zmq
from zmq.utils.monitor import recv_monitor_message

from townlet.client.errors import (
    ERROR_TYPES,
    ConsoleTimeout,
    HandshakeFailed,
    HandshakeRefused,
    InternalError,
    ServerUnreachable,
)
from townlet.security.keys import load_keypair, load_public_key
from townlet.wire.console import Request, Response, decode_response, encode

__all__ = ["ConsoleClient"]

_FAILED_AUTH = zmq.EVENT_HANDSHAKE_FAILED_AUTH
_FAILED_OTHER = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
_EVENTS = (zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | _FAILED_AUTH | _FAILED_OTHER
           | zmq.EVENT_DISCONNECTED)


def _server_key(server_key: str | bytes | os.PathLike[str]) -> bytes:
    if isinstance(server_key, bytes) and len(server_key) == 40:
        return server_key
    if isinstance(server_key, str) and len(server_key) == 40 and not os.path.exists(server_key):
        return server_key.encode("ascii")
    return load_public_key(Path(os.fsdecode(server_key)))


class ConsoleClient:
    """A connection to one console server.

    Parameters
    ----------
    endpoint
        e.g. ``tcp://127.0.0.1:7571``.
    server_key
        The server's public key: a ``server.key`` file or its 40-character Z85 text.
    client_key_file
        Your keypair file from ``townlet keys issue`` (mode 0600).
    timeout
        Seconds to wait for each response.
    retries
        Reconnect-and-resend attempts after a timeout on a live connection.
    """

    def __init__(self, endpoint: str, server_key: str | bytes | os.PathLike[str],
                 client_key_file: str | os.PathLike[str], *, timeout: float = 5.0,
                 retries: int = 1) -> None:
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be > 0 and retries >= 0")
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self._server_key = _server_key(server_key)
        self._keys = load_keypair(client_key_file)
        self._ctx = zmq.Context()
        self._sock: zmq.Socket | None = None
        self._mon: zmq.Socket | None = None
        self._connected = False
        self._handshake = False

    # -- connection ----------------------------------------------------------------------
    def _open(self) -> zmq.Socket:
        if self._sock is not None:
            return self._sock
        s = self._ctx.socket(zmq.DEALER)
        s.linger = 0
        s.curve_serverkey = self._server_key
        s.curve_publickey = self._keys.public
        s.curve_secretkey = self._keys.secret
        self._mon = s.get_monitor_socket(_EVENTS)
        s.connect(self.endpoint)
        self._sock, self._connected, self._handshake = s, False, False
        return s

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.disable_monitor()
            self._sock.close(0)
        if self._mon is not None:
            self._mon.close(0)
        self._sock = self._mon = None

    def close(self) -> None:
        """Close the connection and its context."""
        self._drop()
        self._ctx.term()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _monitor(self) -> None:
        """Consume connection events; raise at once when the handshake is refused."""
        assert self._mon is not None
        while self._mon.poll(0):
            ev = recv_monitor_message(self._mon)["event"]
            if ev == zmq.EVENT_CONNECTED:
                self._connected = True
            elif ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._handshake = True
            elif ev == _FAILED_AUTH:
                self._drop()
                raise HandshakeRefused(
                    f"{self.endpoint} refused the handshake: key unknown, expired or revoked")
            elif ev & _FAILED_OTHER:
                self._drop()
                raise HandshakeFailed(
                    f"CURVE handshake with {self.endpoint} failed: is the server key right?")

    # -- requests ------------------------------------------------------------------------
    def request(self, name: str, args: list[Any] | tuple[Any, ...] = (),
                kwargs: dict[str, Any] | None = None, *, cmd_id: str | None = None,
                timeout: float | None = None) -> Response:
        """Send one request and return the server's :class:`Response` (ok or error)."""
        cid = cmd_id or uuid.uuid4().hex
        payload = encode(Request(cmd_id=cid, name=name, args=list(args), kwargs=kwargs or {}))
        wait = self.timeout if timeout is None else timeout
        for attempt in range(self.retries + 1):
            sock = self._open()
            sock.send(payload)
            resp = self._await(cid, wait)
            if resp is not None:
                return resp
            if not self._connected:
                self._drop()
                raise ServerUnreachable(f"no connection to {self.endpoint} within {wait:g} s")
            self._drop()  # reconnect and resend the same cmd_id
        raise ConsoleTimeout(f"no response from {self.endpoint} within {wait:g} s "
                             f"({self.retries + 1} attempt(s))")

    def _await(self, cid: str, wait: float) -> Response | None:
        assert self._sock is not None and self._mon is not None
        deadline = time.monotonic() + wait
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._mon, zmq.POLLIN)
        while (left := deadline - time.monotonic()) > 0:
            ready = dict(poller.poll(max(1, int(left * 1000))))
            if self._mon in ready:
                self._monitor()
            if self._sock in ready:
                data = self._sock.recv()
                try:
                    resp = decode_response(data)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    raise InternalError(f"undecodable response: {exc}") from None
                if resp.cmd_id == cid or resp.cmd_id == "":
                    return resp  # "" = the server could not read our cmd_id
                # else: a late answer to an earlier, timed-out request: ignore
        self._monitor()
        return None

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run command ``name``; return its result or raise the error code's exception."""
        resp = self.request(name, args, kwargs)
        if resp.ok:
            return resp.result
        err = resp.error
        code = err.code if err is not None else "E_INTERNAL"
        cls = ERROR_TYPES.get(code, InternalError)
        raise cls(err.message if err is not None else "error without details",
                  cmd_id=resp.cmd_id, tick=resp.tick)
