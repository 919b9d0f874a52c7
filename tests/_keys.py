"""Shared test helpers: a fresh key directory and a CURVE round-trip probe over real sockets."""

from __future__ import annotations

from pathlib import Path

import zmq

from townlet.security import Keypair, load_keypair, load_public_key

__all__ = ["curve_client", "round_trip"]


def curve_client(ctx: zmq.Context, endpoint: str, server_public: bytes, kp: Keypair | None,
                 sock_type: int = zmq.DEALER) -> zmq.Socket:
    """Connect a client socket; ``kp=None`` connects without CURVE (a NULL client)."""
    s = ctx.socket(sock_type)
    s.linger = 0
    if kp is not None:
        s.curve_serverkey = server_public
        s.curve_publickey = kp.public
        s.curve_secretkey = kp.secret
    s.connect(endpoint)
    return s


def round_trip(ctx: zmq.Context, endpoint: str, key_dir: Path, client_file: Path | None,
               timeout_ms: int = 800, server_public: bytes | None = None) -> bool:
    """True when a message from this client reaches an echo server and comes back."""
    spub = server_public or load_public_key(key_dir / "server.key")
    kp = load_keypair(client_file) if client_file is not None else None
    c = curve_client(ctx, endpoint, spub, kp)
    try:
        c.send(b"ping")
        return bool(c.poll(timeout_ms)) and c.recv() == b"ping"
    finally:
        c.close(0)
