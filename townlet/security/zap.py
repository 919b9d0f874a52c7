"""ZAP authenticator backed by the key registry.

:class:`RegistryAuthenticator` is pyzmq's :class:`~zmq.auth.thread.ThreadAuthenticator`
with a policy: only CURVE is accepted, a client key is admitted only when the
registry lists it as valid (known, unexpired, unrevoked) with a role the caller
allowed, and the User-Id libzmq attaches to every message from that connection
is the key's id, so a server can re-check the key per request
(:meth:`RegistryWatcher.check_key_id`). With ``connection_ids`` the User-Id is
``<key id>.<n>``, ``n`` counting handshakes, so a server can tell two connections
of one key apart (:func:`split_user_id`). Each decision is logged with the key
id, name, role and reason; secret keys never reach this code.

Use one authenticator per ``zmq.Context`` and start it *before* binding a CURVE
socket of that context (:func:`curve_server_socket` enforces the order):
a CURVE socket without a ZAP handler admits any client that knows the server key.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import Counter
from collections.abc import Iterable

import structlog
import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from townlet.security.registry import KeyStatus, RegistryWatcher, key_fingerprint
from townlet.security.roles import ROLES

__all__ = ["RegistryAuthenticator", "RegistryCredentials", "curve_server_socket", "split_user_id"]

_log = structlog.get_logger("townlet.security.zap")


class RegistryCredentials:
    """Credentials provider for ``configure_curve_callback``: decides per client key."""

    def __init__(self, watcher: RegistryWatcher, allowed_roles: frozenset[str], label: str) -> None:
        self.watcher = watcher
        self.allowed_roles = allowed_roles
        self.label = label
        self.allowed = 0
        self.denied = 0
        self.denied_by: Counter[str] = Counter()
        """Denials by reason (key status, ``role_not_allowed``, ``mechanism_not_allowed``)."""

    def deny(self, reason: str) -> None:
        """Count one refused handshake (any thread may read the counters)."""
        self.denied += 1
        self.denied_by[reason] += 1

    def callback(self, domain: str, key: bytes) -> bool:
        """Return True to admit the Z85 client ``key`` (pyzmq calls this on the ZAP thread)."""
        check = self.watcher.check_public_key(key.decode("ascii", "replace"))
        rec = check.record
        reason = check.status.value
        ok = check.ok
        if ok and rec is not None and rec.role not in self.allowed_roles:
            ok, reason = False, "role_not_allowed"
        fields = {
            "server": self.label,
            "domain": domain,
            "reason": reason,
            "key_id": rec.key_id if rec else _safe_fingerprint(key),
            "name": rec.name if rec else None,
            "role": rec.role if rec else None,
        }
        if ok:
            self.allowed += 1
            _log.info("zap_allowed", **fields)
        else:
            self.deny(reason)
            _log.warning("zap_denied", **fields)
        return ok


def _safe_fingerprint(key: bytes) -> str | None:
    try:
        return key_fingerprint(key)
    except ValueError:
        return None


class RegistryAuthenticator(ThreadAuthenticator):
    """ZAP handler on its own thread admitting registry keys whose role is in ``allowed_roles``.

    Parameters
    ----------
    registry_path
        The registry file; re-read whenever it changes.
    allowed_roles
        Roles that may connect at all (e.g. every role for telemetry and the console).
    context
        The ZeroMQ context whose sockets this handler guards.
    domain
        ZAP domain to answer for; sockets must set the same ``zap_domain``.
    label
        Name of the guarded server in log lines.
    watcher
        Share an existing :class:`RegistryWatcher` (e.g. with per-request re-checks).
    connection_ids
        Make each connection's User-Id unique (``<key id>.<handshake number>``).
    """

    def __init__(
        self,
        registry_path: str | os.PathLike[str],
        allowed_roles: Iterable[str],
        context: zmq.Context,
        *,
        domain: str = "townlet",
        label: str = "townlet",
        watcher: RegistryWatcher | None = None,
        connection_ids: bool = False,
    ) -> None:
        super().__init__(context=context, log=logging.getLogger("townlet.security.zap.pyzmq"))
        roles = frozenset(allowed_roles)
        if not roles or roles - set(ROLES):
            raise ValueError(
                f"allowed_roles must be a non-empty subset of {ROLES}; got {sorted(roles)}"
            )
        if not domain:
            raise ValueError("a non-empty ZAP domain is required")
        self.domain = domain
        self.watcher = watcher if watcher is not None else RegistryWatcher(registry_path)
        self.credentials = RegistryCredentials(self.watcher, roles, label)
        self.configure_curve_callback(domain, self.credentials)
        self._handshakes = itertools.count(1) if connection_ids else None

    def curve_user_id(self, client_public_key: bytes) -> str:
        """User-Id for an admitted connection: the key id (fingerprint), never the key."""
        key_id = key_fingerprint(z85.encode(client_public_key))
        if self._handshakes is None:
            return key_id
        return f"{key_id}.{next(self._handshakes)}"  # only the ZAP thread calls this

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        """Refuse every mechanism except CURVE (NULL and PLAIN would bypass the registry)."""
        if len(msg) >= 6 and msg[5] != b"CURVE":
            _log.warning("zap_denied", reason="mechanism_not_allowed",
                         mechanism=msg[5].decode("ascii", "replace"))
            self.credentials.deny("mechanism_not_allowed")
            self._send_zap_reply(msg[1], b"400", b"Mechanism not allowed")
            return
        await super().handle_zap_message(msg)

    def start(self) -> None:
        """Start the ZAP thread; the registry is read once now so problems show at startup."""
        if self.watcher.current() is None:
            _log.error("zap_registry_unusable_at_start", error=self.watcher.error)
        super().start()

    def status(self, key_id: str) -> KeyStatus:
        """Current status of a connected client's key id (for per-request re-checks)."""
        return self.watcher.check_key_id(key_id).status


def curve_server_socket(
    context: zmq.Context,
    socket_type: int,
    authenticator: RegistryAuthenticator,
    server_public: bytes,
    server_secret: bytes,
) -> zmq.Socket:
    """Create a CURVE server socket guarded by ``authenticator`` (which must be running).

    Raises ``RuntimeError`` if the authenticator is not alive or belongs to another
    context, because binding then would admit any client that knows the server key.
    """
    if not authenticator.is_alive():
        raise RuntimeError("start the ZAP authenticator before creating a CURVE server socket")
    if authenticator.context is not context:
        raise RuntimeError("the ZAP authenticator must run on the same zmq.Context as the socket")
    sock = context.socket(socket_type)
    sock.curve_server = True
    sock.curve_publickey = server_public
    sock.curve_secretkey = server_secret
    sock.zap_domain = authenticator.domain.encode("ascii")
    return sock


def split_user_id(user_id: str) -> tuple[str, int | None]:
    """(key id, handshake number) of a User-Id; the number is None without ``connection_ids``."""
    key_id, _, n = user_id.partition(".")
    return key_id, int(n) if n.isdigit() else None
