"""Key registry and key files: lifecycle, validation, permissions, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from townlet.security import (
    KeyFileError,
    KeyStatus,
    RegistryError,
    RegistryWatcher,
    init_key_dir,
    issue_key,
    load_keypair,
    load_public_key,
    load_registry,
    parse_ttl,
    revoke_keys,
)
from townlet.security.registry import key_fingerprint, utcnow


@pytest.fixture
def kdir(tmp_path: Path) -> Path:
    init_key_dir(tmp_path / "keys")
    return tmp_path / "keys"


@pytest.mark.parametrize("text,secs", [("90s", 90), ("15m", 900), ("8h", 28800), ("1d", 86400),
                                       ("1h30m", 5400)])
def test_parse_ttl(text: str, secs: int) -> None:
    assert parse_ttl(text) == timedelta(seconds=secs)


@pytest.mark.parametrize("text", ["", "15", "m", "1x", "-5m", "0s", "1h 30m", "15mm"])
def test_parse_ttl_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_ttl(text)


def test_init_creates_server_keys_and_registry(kdir: Path) -> None:
    assert oct((kdir / "server.key_secret").stat().st_mode & 0o777) == "0o600"
    kp = load_keypair(kdir / "server.key_secret")
    assert load_public_key(kdir / "server.key") == kp.public
    assert load_registry(kdir / "registry.json").records() == []
    with pytest.raises(KeyFileError, match="already exists"):
        init_key_dir(kdir)
    init_key_dir(kdir, force=True)
    assert load_public_key(kdir / "server.key") != kp.public


def test_issue_writes_0600_keypair_and_registers_public_key(kdir: Path) -> None:
    rec, path = issue_key(kdir, "alice", "operator", parse_ttl("1h"))
    assert path.stat().st_mode & 0o777 == 0o600
    kp = load_keypair(path)
    assert kp.public.decode() == rec.public_key
    assert rec.key_id == key_fingerprint(kp.public)
    reg = load_registry(kdir / "registry.json")
    check = reg.check_public_key(rec.public_key)
    assert check.status is KeyStatus.VALID and check.record.role == "operator"
    assert timedelta(minutes=59) < rec.expires_at - rec.issued_at <= timedelta(hours=1)
    # the registry holds no secret
    raw = (kdir / "registry.json").read_text()
    assert kp.secret.decode() not in raw


def test_issue_rejects_bad_inputs(kdir: Path) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        issue_key(kdir, "bob", "root")
    with pytest.raises(ValueError, match="bad name"):
        issue_key(kdir, "../bob", "viewer")
    with pytest.raises(ValueError, match="exceeds the maximum for role admin"):
        issue_key(kdir, "bob", "admin", parse_ttl("2d"))
    with pytest.raises(RegistryError, match="keys init"):
        issue_key(kdir.parent / "nowhere", "bob", "viewer")
    out = kdir / "taken.key_secret"
    out.write_text("x")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        issue_key(kdir, "bob", "viewer", out=out)
    assert load_registry(kdir / "registry.json").records() == []


def test_expiry_and_revocation_status(kdir: Path) -> None:
    past = utcnow() - timedelta(hours=2)
    old, _ = issue_key(kdir, "carol", "viewer", parse_ttl("1h"), now=past)
    new, _ = issue_key(kdir, "carol", "viewer", parse_ttl("1h"))
    reg = load_registry(kdir / "registry.json")
    assert reg.check_key_id(old.key_id).status is KeyStatus.EXPIRED
    assert reg.check_key_id(new.key_id).status is KeyStatus.VALID
    assert reg.check_key_id("0" * 16).status is KeyStatus.UNKNOWN
    # rotation: revoke only the old key
    hit = revoke_keys(kdir, "carol", key_id=old.key_id)
    assert [r.key_id for r in hit] == [old.key_id]
    reg = load_registry(kdir / "registry.json")
    assert reg.check_key_id(new.key_id).status is KeyStatus.VALID
    assert reg.check_key_id(old.key_id).status is KeyStatus.REVOKED
    revoke_keys(kdir, "carol")
    assert load_registry(kdir / "registry.json").check_key_id(new.key_id).status \
        is KeyStatus.REVOKED
    with pytest.raises(LookupError, match="no unrevoked key named 'carol'"):
        revoke_keys(kdir, "carol")
    with pytest.raises(LookupError):
        revoke_keys(kdir, "nobody")


def test_key_file_permissions_and_format_checked(kdir: Path, tmp_path: Path) -> None:
    _, path = issue_key(kdir, "dave", "viewer")
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_keypair(path)
    os.chmod(kdir / "server.key", 0o600)
    with pytest.raises(KeyFileError, match="no secret key"):
        load_keypair(kdir / "server.key")
    with pytest.raises(KeyFileError, match="does not exist"):
        load_keypair(tmp_path / "missing")
    bad = tmp_path / "bad.key_secret"
    bad.write_text("curve\n    public-key = \"short\"\n    secret-key = \"short\"\n")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="40 Z85"):
        load_keypair(bad)
    empty = tmp_path / "empty.key"
    empty.write_text("metadata\n")
    with pytest.raises(KeyFileError, match="malformed"):
        load_public_key(empty)


def _doc_with(kdir: Path, **changes) -> dict:
    _rec, _ = issue_key(kdir, "erin", "viewer")
    doc = json.loads((kdir / "registry.json").read_text())
    doc["keys"][0].update(changes)
    return doc


@pytest.mark.parametrize("changes,match", [
    ({"role": "root"}, r"\$\.keys\[0\]\.role"),
    ({"expires_at": "2030-01-01T00:00:00"}, r"timezone|tz"),
    ({"key_id": "0000000000000000"}, "key_id does not match"),
    ({"public_key": "tooshort"}, "bad public key"),
    ({"name": ""}, "empty name"),
    ({"extra": 1}, "unknown field"),
])
def test_registry_validation_names_the_bad_field(kdir: Path, changes: dict, match: str) -> None:
    doc = _doc_with(kdir, **changes)
    (kdir / "registry.json").write_text(json.dumps(doc))
    with pytest.raises(RegistryError, match=match):
        load_registry(kdir / "registry.json")


def test_registry_rejects_duplicates_garbage_and_unsafe_perms(kdir: Path) -> None:
    doc = _doc_with(kdir)
    doc["keys"].append(doc["keys"][0])
    reg = kdir / "registry.json"
    reg.write_text(json.dumps(doc))
    with pytest.raises(RegistryError, match="duplicate public key"):
        load_registry(reg)
    reg.write_bytes(b"\x00not json")
    with pytest.raises(RegistryError, match="not valid JSON"):
        load_registry(reg)
    reg.write_text(json.dumps({"version": 2, "keys": []}))
    with pytest.raises(RegistryError, match="unsupported version"):
        load_registry(reg)
    reg.write_text(json.dumps({"version": 1, "keys": []}))
    os.chmod(reg, 0o666)
    with pytest.raises(RegistryError, match="writable by group or others"):
        load_registry(reg)


def test_watcher_reloads_on_change_and_fails_closed(kdir: Path) -> None:
    w = RegistryWatcher(kdir / "registry.json")
    rec, _ = issue_key(kdir, "frank", "viewer")
    assert w.check_key_id(rec.key_id).ok
    n = w.reloads
    assert w.check_key_id(rec.key_id).ok and w.reloads == n  # unchanged file: no reload
    revoke_keys(kdir, "frank")
    assert w.check_key_id(rec.key_id).status is KeyStatus.REVOKED
    (kdir / "registry.json").write_text("{broken")
    assert w.check_key_id(rec.key_id).status is KeyStatus.UNAVAILABLE
    assert "not valid JSON" in (w.error or "")
    (kdir / "registry.json").unlink()
    assert w.check_public_key(rec.public_key).status is KeyStatus.UNAVAILABLE


def _issue_many(kdir: str, who: int, n: int) -> None:
    for i in range(n):
        issue_key(kdir, f"p{who}-{i}", "viewer")


def test_concurrent_writers_lose_nothing(kdir: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_issue_many, args=(str(kdir), w, 5)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    names = {r.name for r in load_registry(kdir / "registry.json").records()}
    assert names == {f"p{w}-{i}" for w in range(3) for i in range(5)}


def test_registry_roundtrips_through_msgspec(kdir: Path) -> None:
    issue_key(kdir, "gina", "admin", parse_ttl("1h"))
    reg = load_registry(kdir / "registry.json")
    again = msgspec.json.decode(msgspec.json.encode(reg.doc), type=type(reg.doc))
    assert again == reg.doc
