"""CURVE key files and the key lifecycle: init, issue, revoke.

Key files use pyzmq's certificate format (``zmq.auth.load_certificate`` reads
them). Secret key files are created with mode 0600 and refused on load when
group or others can read them, like ssh does. A key directory looks like::

    <dir>/server.key           server public key (give it to clients)
    <dir>/server.key_secret    server keypair (0600, stays on the server)
    <dir>/registry.json        the key registry (public keys only)
    <dir>/clients/<name>-<key_id>.key_secret   issued client keypairs (0600)
"""

from __future__ import annotations

import os
import re
import stat
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import zmq
import zmq.auth

from townlet.security.fileperm import untrusted
from townlet.security.registry import (
    KeyRecord,
    RegistryDoc,
    RegistryError,
    key_fingerprint,
    update_registry,
    utcnow,
)
from townlet.security.roles import Role, parse_role

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "REGISTRY_FILE",
    "SERVER_PUBLIC_FILE",
    "SERVER_SECRET_FILE",
    "KeyFileError",
    "Keypair",
    "init_key_dir",
    "issue_key",
    "load_keypair",
    "load_public_key",
    "parse_ttl",
    "revoke_in_registry",
    "revoke_keys",
    "write_keypair_file",
    "write_public_key_file",
]

REGISTRY_FILE = "registry.json"
SERVER_PUBLIC_FILE = "server.key"
SERVER_SECRET_FILE = "server.key_secret"

#: TTL used when none is given: credentials are short-lived by default.
DEFAULT_TTL = timedelta(minutes=15)
#: Longest TTL each role may be issued with (admin credentials live hours, not days).
MAX_TTL: dict[str, timedelta] = {
    "viewer": timedelta(days=30),
    "operator": timedelta(days=1),
    "admin": timedelta(hours=8),
}

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_TTL_RE = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_SECRET_BANNER = (
    "#   ZeroMQ CURVE **Secret** Certificate ({what})\n"
    "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
)
_PUBLIC_BANNER = "#   ZeroMQ CURVE Public Certificate ({what})\n\n"


class KeyFileError(Exception):
    """A key file is missing, malformed or has unsafe permissions."""


class Keypair(msgspec.Struct, frozen=True):
    """A CURVE keypair as Z85 bytes (``secret`` is ``None`` for a public-only file)."""

    public: bytes
    secret: bytes | None


def parse_ttl(text: str) -> timedelta:
    """Parse a duration such as ``90s``, ``15m``, ``8h``, ``1d`` or ``1h30m``."""
    s = text.strip()
    pos, total = 0, 0
    for m in _TTL_RE.finditer(s):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"bad duration {text!r}; use e.g. 90s, 15m, 8h, 1d or 1h30m")
    if total <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return timedelta(seconds=total)


def _write_private(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to a new file created with ``mode`` (no window with wider perms)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    os.chmod(path, mode)  # umask may have narrowed it; be exact


def _body(public: bytes, secret: bytes | None, metadata: dict[str, str]) -> str:
    lines = ["metadata"]
    lines += [f"    {k} = {v}" for k, v in metadata.items()]
    lines += ["curve", f'    public-key = "{public.decode("ascii")}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode("ascii")}"')
    return "\n".join(lines) + "\n"


def write_keypair_file(path: str | os.PathLike[str], kp: Keypair, what: str, **meta: str) -> Path:
    """Write a secret certificate (mode 0600); refuse to overwrite an existing file."""
    if kp.secret is None:
        raise ValueError("write_keypair_file needs a secret key")
    p = Path(path)
    try:
        _write_private(p, _SECRET_BANNER.format(what=what) + _body(kp.public, kp.secret, meta), 0o600)
    except FileExistsError:
        raise KeyFileError(f"{p} already exists; refusing to overwrite a key") from None
    return p


def write_public_key_file(path: str | os.PathLike[str], public: bytes, what: str) -> Path:
    """Write a public certificate (mode 0644); refuse to overwrite an existing file."""
    p = Path(path)
    try:
        _write_private(p, _PUBLIC_BANNER.format(what=what) + _body(public, None, {}), 0o644)
    except FileExistsError:
        raise KeyFileError(f"{p} already exists; refusing to overwrite a key") from None
    return p


def _load(path: Path) -> Keypair:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except OSError:
        raise KeyFileError(f"key file {path} does not exist or is unreadable") from None
    except ValueError as exc:
        raise KeyFileError(f"key file {path} is malformed: {exc}") from None
    for k in (public, secret):
        if k is not None and len(k) != 40:
            raise KeyFileError(f"key file {path} holds a key that is not 40 Z85 characters")
    return Keypair(public=public, secret=secret)


def _trusted(p: Path, mode: str) -> os.stat_result:
    """The status of key file ``p``, or :class:`KeyFileError` when it is missing or others
    could change it (:func:`~townlet.security.fileperm.untrusted`); ``mode`` is the fix."""
    try:
        st = os.stat(p)
    except OSError:
        raise KeyFileError(f"key file {p} does not exist or is unreadable") from None
    why = untrusted(st)
    if why is not None:
        raise KeyFileError(f"key file {p} is {why}; refusing to trust it "
                           f"(only its owner may change it: chmod {mode} {p})")
    return st


def load_keypair(path: str | os.PathLike[str]) -> Keypair:
    """Load a secret certificate; refuse it when group/others can access it or it has no secret."""
    p = Path(path)
    st = _trusted(p, "600")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"secret key file {p} is accessible by others; run: chmod 600 {p}")
    kp = _load(p)
    if kp.secret is None:
        raise KeyFileError(f"key file {p} holds no secret key (did you pass the public file?)")
    return kp


def load_public_key(path: str | os.PathLike[str]) -> bytes:
    """Load the Z85 public key from a public or secret certificate file; refuse one that
    others could change (they could substitute the key a client trusts)."""
    p = Path(path)
    _trusted(p, "644")
    return _load(p).public


def init_key_dir(key_dir: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Create the server keypair and an empty registry in ``key_dir``.

    Refuses when a server key already exists unless ``force`` (which replaces the
    server keypair: every client then needs the new ``server.key``).
    Returns the server public key file.
    """
    d = Path(key_dir)
    d.mkdir(parents=True, exist_ok=True)
    pub, sec = d / SERVER_PUBLIC_FILE, d / SERVER_SECRET_FILE
    if (pub.exists() or sec.exists()) and not force:
        raise KeyFileError(f"{sec} already exists; pass --force to replace the server keypair")
    pub.unlink(missing_ok=True)
    sec.unlink(missing_ok=True)
    public, secret = zmq.curve_keypair()
    write_keypair_file(sec, Keypair(public, secret), "townlet server")
    write_public_key_file(pub, public, "townlet server")
    update_registry(d / REGISTRY_FILE, lambda doc: doc, create=True)
    return pub


def issue_key(
    key_dir: str | os.PathLike[str],
    name: str,
    role: str,
    ttl: timedelta = DEFAULT_TTL,
    *,
    out: str | os.PathLike[str] | None = None,
    now: datetime | None = None,
) -> tuple[KeyRecord, Path]:
    """Create a client keypair, register its public key, write the keypair file (0600).

    Returns the registry record and the path of the client key file.
    """
    if not _NAME_RE.match(name):
        raise ValueError(
            f"bad name {name!r}: 1-64 characters of letters, digits, '_', '.', '@', '-'"
        )
    r: Role = parse_role(role)
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    if ttl > MAX_TTL[r]:
        raise ValueError(f"ttl {ttl} exceeds the maximum for role {r} ({MAX_TTL[r]})")
    d = Path(key_dir)
    if not (d / REGISTRY_FILE).exists():
        raise RegistryError(f"no registry in {d}; run `townlet keys init` first")
    public, secret = zmq.curve_keypair()
    t0 = now or utcnow()
    rec = KeyRecord(
        key_id=key_fingerprint(public),
        name=name,
        role=r,
        public_key=public.decode("ascii"),
        issued_at=t0,
        expires_at=t0 + ttl,
    )
    path = Path(out) if out is not None else d / "clients" / f"{name}-{rec.key_id}.key_secret"
    write_keypair_file(
        path, Keypair(public, secret), f"townlet client {name}",
        name=name, role=r, key_id=rec.key_id, expires_at=rec.expires_at.isoformat(),
    )
    try:
        update_registry(d / REGISTRY_FILE, lambda doc: RegistryDoc(doc.version, [*doc.keys, rec]))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return rec, path


def revoke_keys(
    key_dir: str | os.PathLike[str],
    name: str,
    *,
    key_id: str | None = None,
    now: datetime | None = None,
) -> list[KeyRecord]:
    """Revoke every unrevoked key of ``name`` (or only ``key_id``) in ``key_dir``'s registry."""
    return revoke_in_registry(Path(key_dir) / REGISTRY_FILE, name, key_id=key_id, now=now)


def revoke_in_registry(
    registry_path: str | os.PathLike[str],
    name: str,
    *,
    key_id: str | None = None,
    now: datetime | None = None,
) -> list[KeyRecord]:
    """Revoke every unrevoked key of ``name`` (or only ``key_id``); return the revoked records.

    Raises ``LookupError`` when nothing matched.
    """
    t = now or utcnow()
    hit: list[KeyRecord] = []

    def change(doc: RegistryDoc) -> RegistryDoc:
        hit.clear()
        keys = []
        for rec in doc.keys:
            if rec.name == name and not rec.revoked and key_id in (None, rec.key_id):
                rec = msgspec.structs.replace(rec, revoked=True, revoked_at=t)
                hit.append(rec)
            keys.append(rec)
        if not hit:
            which = f"key {key_id} of {name!r}" if key_id else f"unrevoked key named {name!r}"
            raise LookupError(f"no {which} in the registry")
        return RegistryDoc(doc.version, keys)

    update_registry(registry_path, change)
    return hit
