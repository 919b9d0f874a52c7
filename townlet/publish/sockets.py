"""The publisher's XPUB socket: CURVE + ZAP by default, loopback plaintext only on request.

Order matters: the registry-backed ZAP authenticator starts before the socket
is created and bound (``curve_server_socket`` refuses otherwise), because a
CURVE socket without a ZAP handler admits anyone who knows the server key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import zmq

from townlet.publish.peers import (
    MAX_UPSTREAM_BYTES,
    MONITOR_EVENTS,
    UPSTREAM_HWM,
    UPSTREAM_RCVBUF,
)

if TYPE_CHECKING:
    from townlet.security.zap import RegistryAuthenticator

__all__ = ["ConfigurationError", "PublisherSocket", "loopback_endpoint"]

_log = structlog.get_logger("townlet.publish")
_TCP = re.compile(r"^tcp://(?P<host>\[[^\]]+\]|[^:/]+):(?P<port>\d+|\*)$")
_LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
ZAP_DOMAIN = "telemetry"


class ConfigurationError(ValueError):
    """Contradictory or unsafe publisher settings (raised at startup)."""


def loopback_endpoint(endpoint: str) -> str:
    """``endpoint`` forced onto the loopback interface (ipc:// stays as it is)."""
    if endpoint.startswith("ipc://"):
        return endpoint
    m = _TCP.match(endpoint)
    if m is None:
        raise ConfigurationError(f"endpoint {endpoint!r}: expected tcp://host:port or ipc://path")
    if m["host"] in _LOOPBACK:
        return endpoint
    return f"tcp://127.0.0.1:{m['port']}"


class PublisherSocket:
    """XPUB socket (with its authenticator and monitor) that frames are sent on."""

    def __init__(self, endpoint: str, *, key_dir: str | None, server_key: str | None,
                 registry: str | None, insecure_dev: bool, hwm: int) -> None:
        self.ctx = zmq.Context()
        self.auth: RegistryAuthenticator | None = None
        if insecure_dev:
            bind = loopback_endpoint(endpoint)
            _log.warning("publisher_insecure_dev", endpoint=bind, requested=endpoint,
                         detail="plaintext, unauthenticated, loopback only: development use")
            self.sock = self.ctx.socket(zmq.XPUB)
        else:
            bind = endpoint
            self.sock = self._secure_socket(key_dir, server_key, registry)
        # every (un)subscription passed up with its connection; libzmq applies it to that
        # connection (townlet.publish.peers says why not ZMQ_XPUB_MANUAL)
        self.sock.setsockopt(zmq.XPUB_VERBOSER, 1)
        self.sock.setsockopt(zmq.SNDHWM, hwm)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_UPSTREAM_BYTES)  # upstream: subscriptions, resyncs
        self.sock.setsockopt(zmq.RCVHWM, UPSTREAM_HWM)
        self.sock.setsockopt(zmq.RCVBUF, UPSTREAM_RCVBUF)
        self.monitor = self.sock.get_monitor_socket(MONITOR_EVENTS)
        try:
            self.sock.bind(bind)
        except zmq.ZMQError:
            self.close()  # an open monitor would hang the context's teardown at exit
            raise
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.secure = not insecure_dev

    def _secure_socket(self, key_dir: str | None, server_key: str | None,
                       registry: str | None) -> zmq.Socket:
        from townlet.security import (  # security sits below publish
            REGISTRY_FILE,
            SERVER_SECRET_FILE,
            SUBSCRIBE_ROLES,
            RegistryAuthenticator,
            curve_server_socket,
            load_keypair,
        )

        if server_key is None or registry is None:
            if key_dir is None:
                raise ConfigurationError(
                    "no server key: pass --key-dir (from `townlet keys init`) or --server-key "
                    "and --registry; --insecure-dev allows plaintext on loopback")
            server_key = server_key or str(Path(key_dir) / SERVER_SECRET_FILE)
            registry = registry or str(Path(key_dir) / REGISTRY_FILE)
        if not Path(registry).is_file():
            raise ConfigurationError(f"key registry {registry} does not exist; "
                                     "run `townlet keys init` first")
        kp = load_keypair(server_key)
        if kp.secret is None:
            raise ConfigurationError(f"{server_key} holds no secret key; the publisher needs "
                                     "the server's .key_secret file")
        self.auth = auth = RegistryAuthenticator(registry, SUBSCRIBE_ROLES, self.ctx,
                                                 domain=ZAP_DOMAIN, label="publisher",
                                                 connection_ids=True)
        auth.start()
        return curve_server_socket(self.ctx, zmq.XPUB, auth, kp.public, kp.secret)

    def close(self, linger_ms: int = 0) -> None:
        """Close the socket (waiting up to ``linger_ms`` for queued messages to leave),
        the monitor and the authenticator, then the context."""
        self.sock.disable_monitor()
        self.monitor.close(linger=0)
        self.sock.close(linger=linger_ms)
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()
