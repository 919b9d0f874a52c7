"""Shared test helpers: client sockets with deadlines, and a CURVE round-trip probe over
real sockets and real keys."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zmq

from townlet.security import Keypair, load_keypair, load_public_key

__all__ = ["DEADLINE_MS", "DeadlineSocket", "curve_client", "key_client", "round_trip",
           "send_if_connected"]

DEADLINE_MS = 60_000
"""How long a test client's blocking send or receive may wait: generous for a loaded
2-core box, far below CI's per-test limit."""


class DeadlineSocket(zmq.Socket):
    """A client socket whose blocking sends and receives end after ``DEADLINE_MS`` with an
    AssertionError that says which, instead of hanging the suite. A DEALER whose handshake
    was refused has no peer left, so its send would otherwise block for ever."""

    def send(self, data: Any, flags: int = 0, copy: bool = True, track: bool = False,
             **kw: Any) -> Any:
        try:
            return super().send(data, flags, copy=copy, track=track, **kw)
        except zmq.Again:
            if flags & zmq.NOBLOCK:
                raise
            raise AssertionError(f"send to {self._where()}: no peer took it within "
                                 f"{self.sndtimeo / 1000:g} s") from None

    def recv(self, flags: int = 0, copy: bool = True, track: bool = False) -> Any:
        try:
            return super().recv(flags, copy=copy, track=track)
        except zmq.Again:
            if flags & zmq.NOBLOCK:
                raise
            raise AssertionError(f"receive from {self._where()}: nothing arrived within "
                                 f"{self.rcvtimeo / 1000:g} s") from None

    def _where(self) -> str:
        return self.getsockopt_string(zmq.LAST_ENDPOINT) or "an unconnected socket"


def curve_client(ctx: zmq.Context, endpoint: str, server_public: bytes, kp: Keypair | None,
                 sock_type: int = zmq.DEALER,
                 options: Mapping[int, int] | None = None) -> DeadlineSocket:
    """Connect a client socket with deadlines; ``kp=None`` connects without CURVE (a NULL
    client). ``options`` are socket options set before it connects (e.g.
    ``{zmq.RECONNECT_IVL: -1}``: it never reconnects)."""
    s = ctx.socket(sock_type, socket_class=DeadlineSocket)
    s.linger = 0
    s.sndtimeo = s.rcvtimeo = DEADLINE_MS
    for option, value in (options or {}).items():
        s.setsockopt(option, value)
    if kp is not None:
        s.curve_serverkey = server_public
        s.curve_publickey = kp.public
        s.curve_secretkey = kp.secret
    s.connect(endpoint)
    return s


def key_client(endpoint: str, key_dir: Path, client_file: Path,
               sock_type: int = zmq.DEALER) -> DeadlineSocket:
    """``curve_client`` on the shared context with the server key of ``key_dir`` and the
    client key in ``client_file``."""
    return curve_client(zmq.Context.instance(), endpoint, load_public_key(key_dir / "server.key"),
                        load_keypair(client_file), sock_type)


def send_if_connected(sock: zmq.Socket, data: bytes, timeout_ms: int = 800) -> bool:
    """Send ``data`` once the socket can; False if it cannot within ``timeout_ms`` (a client
    whose handshake was refused may already have no connection to send on)."""
    if not sock.poll(timeout_ms, zmq.POLLOUT):
        return False
    try:
        sock.send(data, zmq.NOBLOCK)
    except zmq.Again:  # the refused handshake ended the connection just now
        return False
    return True


def round_trip(ctx: zmq.Context, endpoint: str, key_dir: Path, client_file: Path | None,
               timeout_ms: int = 800, server_public: bytes | None = None) -> bool:
    """True when a message from this client reaches an echo server and comes back within
    ``timeout_ms`` each way (a refused client may have no peer left to send to)."""
    spub = server_public or load_public_key(key_dir / "server.key")
    kp = load_keypair(client_file) if client_file is not None else None
    c = curve_client(ctx, endpoint, spub, kp)
    try:
        return (send_if_connected(c, b"ping", timeout_ms) and bool(c.poll(timeout_ms))
                and c.recv() == b"ping")
    finally:
        c.close(0)
