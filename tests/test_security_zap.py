"""ZAP authenticator over real CURVE sockets and real keys: who gets through and who doesn't."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import zmq
from _keys import curve_client, round_trip, send_if_connected

from townlet.security import (
    ALL_ROLES,
    KeyStatus,
    RegistryAuthenticator,
    curve_server_socket,
    init_key_dir,
    issue_key,
    load_keypair,
    parse_ttl,
    revoke_keys,
)
from townlet.security.registry import utcnow


class EchoServer:
    """A ROUTER behind the authenticator that echoes each message and records its User-Id."""

    def __init__(self, kdir: Path, roles=ALL_ROLES) -> None:
        self.ctx = zmq.Context()
        self.auth = RegistryAuthenticator(kdir / "registry.json", roles, self.ctx, label="test")
        self.auth.start()
        kp = load_keypair(kdir / "server.key_secret")
        self.sock = curve_server_socket(self.ctx, zmq.ROUTER, self.auth, kp.public, kp.secret)
        self.sock.linger = 0
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.user_ids: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.sock.poll(50):
                ident, body = self.sock.recv_multipart(copy=False)
                self.user_ids.append(body.get("User-Id"))
                self.sock.send_multipart([ident.bytes, body.bytes])

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.sock.close(0)
        self.auth.stop()
        self.ctx.term()


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    init_key_dir(tmp_path / "keys")
    return tmp_path / "keys"


@pytest.fixture
def server(kdir: Path) -> Iterator[EchoServer]:
    s = EchoServer(kdir)
    yield s
    s.close()


def test_valid_key_connects_and_user_id_is_key_id(kdir: Path, server: EchoServer) -> None:
    rec, path = issue_key(kdir, "alice", "viewer")
    assert round_trip(server.ctx, server.endpoint, kdir, path)
    assert server.user_ids == [rec.key_id]
    assert server.auth.credentials.allowed == 1


def test_unknown_key_receives_nothing(kdir: Path, server: EchoServer, tmp_path: Path) -> None:
    other = tmp_path / "other"
    init_key_dir(other)
    _, stranger = issue_key(other, "mallory", "admin", parse_ttl("1h"))
    assert not round_trip(server.ctx, server.endpoint, kdir, stranger)
    assert server.user_ids == [] and server.auth.credentials.denied >= 1


def test_no_key_null_client_refused(kdir: Path, server: EchoServer) -> None:
    c = curve_client(server.ctx, server.endpoint, b"", None)
    send_if_connected(c, b"ping")
    assert not c.poll(500)
    c.close(0)
    assert server.user_ids == []


def test_wrong_server_key_refused(kdir: Path, server: EchoServer) -> None:
    _, path = issue_key(kdir, "alice", "viewer")
    wrong_pub, _ = zmq.curve_keypair()
    assert not round_trip(server.ctx, server.endpoint, kdir, path, server_public=wrong_pub)
    assert server.user_ids == []


def test_expired_key_refused(kdir: Path, server: EchoServer) -> None:
    _, path = issue_key(kdir, "old", "viewer", parse_ttl("1m"), now=utcnow() - timedelta(hours=1))
    assert not round_trip(server.ctx, server.endpoint, kdir, path)


def test_revoked_key_refused_for_new_connections_within_a_second(
    kdir: Path, server: EchoServer
) -> None:
    rec, path = issue_key(kdir, "bob", "operator", parse_ttl("1h"))
    assert round_trip(server.ctx, server.endpoint, kdir, path)
    revoke_keys(kdir, "bob")
    # the very next connection is refused: the watcher re-stats the file on every ZAP request
    assert not round_trip(server.ctx, server.endpoint, kdir, path, timeout_ms=1000)
    assert server.auth.status(rec.key_id) is KeyStatus.REVOKED


def test_role_restriction(kdir: Path) -> None:
    s = EchoServer(kdir, roles={"operator", "admin"})
    try:
        _, viewer = issue_key(kdir, "v", "viewer")
        _, op = issue_key(kdir, "o", "operator")
        assert not round_trip(s.ctx, s.endpoint, kdir, viewer)
        assert round_trip(s.ctx, s.endpoint, kdir, op)
    finally:
        s.close()


def test_unusable_registry_denies_everyone(kdir: Path, server: EchoServer) -> None:
    _, path = issue_key(kdir, "alice", "viewer")
    (kdir / "registry.json").write_text("{not json")
    assert not round_trip(server.ctx, server.endpoint, kdir, path)


def test_socket_refused_without_running_authenticator(kdir: Path) -> None:
    ctx = zmq.Context()
    try:
        auth = RegistryAuthenticator(kdir / "registry.json", ALL_ROLES, ctx)
        kp = load_keypair(kdir / "server.key_secret")
        with pytest.raises(RuntimeError, match="before creating"):
            curve_server_socket(ctx, zmq.ROUTER, auth, kp.public, kp.secret)
        other = zmq.Context()
        auth2 = RegistryAuthenticator(kdir / "registry.json", ALL_ROLES, other)
        auth2.start()
        with pytest.raises(RuntimeError, match="same zmq.Context"):
            curve_server_socket(ctx, zmq.ROUTER, auth2, kp.public, kp.secret)
        auth2.stop()
        other.term()
    finally:
        ctx.term()


@pytest.mark.parametrize("roles", [set(), {"root"}, {"viewer", "superuser"}])
def test_bad_allowed_roles_raise(kdir: Path, roles: set[str]) -> None:
    with pytest.raises(ValueError, match="allowed_roles"):
        RegistryAuthenticator(kdir / "registry.json", roles, zmq.Context.instance())


def test_empty_domain_raises(kdir: Path) -> None:
    with pytest.raises(ValueError, match="ZAP domain"):
        RegistryAuthenticator(kdir / "registry.json", ALL_ROLES, zmq.Context.instance(), domain="")
