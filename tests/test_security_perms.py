"""A registry or key file that others could change is not trusted, also when its mode or
owner changes while a server runs (real chmod/chown, the real console server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from townlet.client.console import ConsoleClient
from townlet.client.errors import Unauthorized
from townlet.config.console import ConsoleConfig
from townlet.console.server import ConsoleServer
from townlet.security import (
    KeyFileError,
    KeyStatus,
    RegistryWatcher,
    init_key_dir,
    issue_key,
    load_keypair,
    load_public_key,
)
from townlet.sim.control import LoopControl

NOBODY = 65534


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    init_key_dir(tmp_path / "keys")
    return tmp_path / "keys"


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_watcher_notices_a_mode_change_and_says_why(kdir: Path, mode: int) -> None:
    reg = kdir / "registry.json"
    rec, _ = issue_key(kdir, "ann", "admin")
    w = RegistryWatcher(reg)
    assert w.check_key_id(rec.key_id).ok
    with capture_logs() as logs:
        os.chmod(reg, mode)  # the content and mtime stay the same
        assert w.check_key_id(rec.key_id).status is KeyStatus.UNAVAILABLE
    assert "writable by group or others" in (w.error or "")
    (entry,) = [e for e in logs if e["event"] == "registry_unusable"]
    assert entry["log_level"] == "error" and "chmod 644" in entry["error"]
    assert rec.public_key not in str(logs)
    os.chmod(reg, 0o644)
    assert w.check_key_id(rec.key_id).ok  # trusted again once fixed


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_watcher_refuses_a_registry_owned_by_another_user(kdir: Path) -> None:
    reg = kdir / "registry.json"
    rec, _ = issue_key(kdir, "ann", "admin")
    w = RegistryWatcher(reg)
    assert w.check_key_id(rec.key_id).ok
    os.chown(reg, NOBODY, -1)
    assert w.check_key_id(rec.key_id).status is KeyStatus.UNAVAILABLE
    assert f"owned by another user (uid {NOBODY})" in (w.error or "")
    os.chown(reg, os.geteuid(), -1)
    assert w.check_key_id(rec.key_id).ok


def test_console_refuses_requests_once_the_registry_is_group_writable(tmp_path: Path,
                                                                       kdir: Path) -> None:
    _, key = issue_key(kdir, "ann", "admin")
    srv = ConsoleServer(ConsoleConfig(audit_path=str(tmp_path / "audit.jsonl")),
                        kdir / "registry.json", kdir / "server.key_secret",
                        control=LoopControl(), endpoint="tcp://127.0.0.1:0")
    with srv, ConsoleClient(srv.endpoint or "", kdir / "server.key", key, timeout=5) as c:
        assert c.call("whoami")["identity"] == "ann"
        os.chmod(kdir / "registry.json", 0o664)
        with pytest.raises(Unauthorized, match="registry is unavailable"):
            c.call("whoami")
        assert "writable by group or others" in (srv.health().registry_error or "")
        os.chmod(kdir / "registry.json", 0o644)
        assert c.call("whoami")["identity"] == "ann"


@pytest.mark.parametrize("mode", [0o664, 0o646])
def test_public_key_file_others_can_write_is_refused(kdir: Path, mode: int) -> None:
    pub = kdir / "server.key"
    assert load_public_key(pub)
    os.chmod(pub, mode)
    with pytest.raises(KeyFileError, match="writable by group or others; refusing to trust"):
        load_public_key(pub)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_key_files_owned_by_another_user_are_refused(kdir: Path) -> None:
    for f in (kdir / "server.key", kdir / "server.key_secret"):
        os.chown(f, NOBODY, -1)
    with pytest.raises(KeyFileError, match="owned by another user"):
        load_public_key(kdir / "server.key")
    with pytest.raises(KeyFileError, match="owned by another user"):
        load_keypair(kdir / "server.key_secret")
