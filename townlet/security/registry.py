"""The key registry: which client public keys exist, whose they are, their role
and validity window, and whether they were revoked.

One JSON file (msgspec-typed, human-readable) is the single source of truth.
Writers (``townlet keys``) hold an exclusive ``flock`` and replace the file
atomically, so readers never see half a file; readers (the ZAP authenticator,
the console's per-request re-check) use :class:`RegistryWatcher`, which stats
the file on every lookup and reloads it when it changed. A missing, unreadable,
malformed, group/world-writable or foreign-owned registry denies everyone (fail
closed), including when its mode changes while the server runs.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec
import structlog
from zmq.utils import z85

from townlet.security.fileperm import untrusted
from townlet.security.roles import Role

__all__ = [
    "KeyCheck",
    "KeyRecord",
    "KeyRegistry",
    "KeyStatus",
    "RegistryDoc",
    "RegistryError",
    "RegistryWatcher",
    "key_fingerprint",
    "load_registry",
    "update_registry",
    "utcnow",
]

_log = structlog.get_logger("townlet.security.registry")

#: A timezone-aware datetime (naive times in the file are rejected).
UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class RegistryError(Exception):
    """The registry file is missing, unreadable, malformed or unsafe."""


class KeyRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One client public key and what it is allowed to be."""

    key_id: str
    """Fingerprint of the public key (first 16 hex digits of its SHA-256)."""
    name: str
    """Identity label (a person or a service); several keys may share a name during rotation."""
    role: Role
    """Role granted to this key: viewer, operator or admin."""
    public_key: str
    """Z85-encoded 32-byte CURVE public key (40 characters)."""
    issued_at: UtcDatetime
    """When the key was issued (UTC)."""
    expires_at: UtcDatetime
    """When the key stops being accepted (UTC)."""
    revoked: bool = False
    """True once revoked; a revoked key is never accepted again."""
    revoked_at: UtcDatetime | None = None
    """When it was revoked (UTC), if it was."""


class RegistryDoc(msgspec.Struct, forbid_unknown_fields=True):
    """The registry file's content."""

    version: int = 1
    """Format version of this file."""
    keys: list[KeyRecord] = msgspec.field(default_factory=list)
    """Every key ever issued (revoked and expired ones stay, for the audit trail)."""


class KeyStatus(enum.Enum):
    """Outcome of looking a key up."""

    VALID = "valid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    UNAVAILABLE = "unavailable"  # the registry itself could not be read: deny


class KeyCheck(msgspec.Struct, frozen=True):
    """A lookup result: the status and, when the key is known, its record."""

    status: KeyStatus
    record: KeyRecord | None = None

    @property
    def ok(self) -> bool:
        """True only for a known, unexpired, unrevoked key."""
        return self.status is KeyStatus.VALID


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def key_fingerprint(public_key: str | bytes) -> str:
    """Key id of a Z85 public key: first 16 hex digits of SHA-256 over its 32 raw bytes."""
    text = public_key.encode("ascii") if isinstance(public_key, str) else public_key
    raw = z85.decode(text)
    if len(raw) != 32:
        raise ValueError("a CURVE public key is 32 bytes (40 Z85 characters)")
    return hashlib.sha256(raw).hexdigest()[:16]


_decoder = msgspec.json.Decoder(RegistryDoc)
_encoder = msgspec.json.Encoder()


class KeyRegistry:
    """An immutable, indexed view of one version of the registry file."""

    __slots__ = ("_by_id", "_by_public", "doc")

    def __init__(self, doc: RegistryDoc) -> None:
        self.doc = doc
        self._by_public: dict[str, KeyRecord] = {}
        self._by_id: dict[str, KeyRecord] = {}
        for i, rec in enumerate(doc.keys):
            where = f"$.keys[{i}]"
            if not rec.name:
                raise RegistryError(f"empty name at {where}.name")
            try:
                fp = key_fingerprint(rec.public_key)
            except ValueError as exc:
                raise RegistryError(f"bad public key at {where}.public_key: {exc}") from None
            if fp != rec.key_id:
                raise RegistryError(f"key_id does not match public_key at {where}.key_id")
            if rec.public_key in self._by_public:
                raise RegistryError(f"duplicate public key at {where}.public_key")
            self._by_public[rec.public_key] = rec
            self._by_id[rec.key_id] = rec

    @staticmethod
    def _judge(rec: KeyRecord | None, now: datetime | None) -> KeyCheck:
        if rec is None:
            return KeyCheck(KeyStatus.UNKNOWN)
        if rec.revoked:
            return KeyCheck(KeyStatus.REVOKED, rec)
        if (now or utcnow()) >= rec.expires_at:
            return KeyCheck(KeyStatus.EXPIRED, rec)
        return KeyCheck(KeyStatus.VALID, rec)

    def check_public_key(self, public_key: str, now: datetime | None = None) -> KeyCheck:
        """Status of a Z85 public key."""
        return self._judge(self._by_public.get(public_key), now)

    def check_key_id(self, key_id: str, now: datetime | None = None) -> KeyCheck:
        """Status of a key by its id (the User-Id the ZAP handler assigned)."""
        return self._judge(self._by_id.get(key_id), now)

    def records(self) -> list[KeyRecord]:
        """All records, in issue order."""
        return list(self.doc.keys)


def _check_safe(path: Path, st: os.stat_result) -> None:
    why = untrusted(st)
    if why is not None:
        raise RegistryError(f"registry {path} is {why}; refusing to trust it "
                            f"(it must be a file only its owner can change: chmod 644 {path})")


def _decode(path: Path, data: bytes) -> KeyRegistry:
    try:
        doc = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise RegistryError(f"invalid registry {path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise RegistryError(f"registry {path} is not valid JSON: {exc}") from None
    if doc.version != 1:
        raise RegistryError(f"registry {path} has unsupported version {doc.version}")
    return KeyRegistry(doc)


def load_registry(path: str | os.PathLike[str]) -> KeyRegistry:
    """Read and validate the registry at ``path``; raise :class:`RegistryError` if unusable."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            _check_safe(p, os.fstat(f.fileno()))
            data = f.read()
    except FileNotFoundError:
        raise RegistryError(f"registry {p} does not exist; run `townlet keys init`") from None
    except OSError as exc:
        raise RegistryError(f"cannot read registry {p}: {exc.strerror}") from None
    return _decode(p, data)


def update_registry(
    path: str | os.PathLike[str],
    change: Callable[[RegistryDoc], RegistryDoc],
    *,
    create: bool = False,
) -> RegistryDoc:
    """Apply ``change`` to the registry under an exclusive lock and replace the file atomically.

    ``create=True`` starts from an empty registry when the file does not exist.
    Returns the document that was written.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    lock_path = p.with_name(p.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if p.exists():
            doc = load_registry(p).doc
        elif create:
            doc = RegistryDoc()
        else:
            raise RegistryError(f"registry {p} does not exist; run `townlet keys init`")
        new = change(doc)
        KeyRegistry(new)  # validate before writing
        tmp_fd, tmp = tempfile.mkstemp(prefix=".registry.", dir=p.parent)
        try:
            with os.fdopen(tmp_fd, "wb") as f:
                f.write(msgspec.json.format(_encoder.encode(new), indent=2) + b"\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return new
    finally:
        os.close(fd)


class RegistryWatcher:
    """Thread-safe access to the current registry, reloaded whenever the file changes.

    Each :meth:`current` call stats the file (microseconds) and reloads when its
    inode, size, mtime, ctime, mode or owner changed, so a revocation is seen by the
    very next lookup, and so is a ``chmod`` that lets others write the file (then the
    registry is refused, see :func:`~townlet.security.fileperm.untrusted`). When the
    file cannot be used every lookup reports :attr:`KeyStatus.UNAVAILABLE` until it is
    fixed, and the reason is logged once.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._sig: tuple[int, ...] | None = None
        self._registry: KeyRegistry | None = None
        self._error: str | None = None
        self.reloads = 0

    def current(self) -> KeyRegistry | None:
        """The registry as the file says now, or ``None`` when it is unusable."""
        try:
            st = os.stat(self.path)
            sig = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                   st.st_mode, st.st_uid)
        except OSError:
            sig = None
        with self._lock:
            if sig is not None and sig == self._sig:
                return self._registry
            self._sig = sig
            try:
                self._registry = load_registry(self.path)
                self._error = None
                self.reloads += 1
                _log.info("registry_loaded", path=str(self.path), keys=len(self._registry.doc.keys))
            except RegistryError as exc:
                self._registry = None
                if str(exc) != self._error:
                    _log.error("registry_unusable", path=str(self.path), error=str(exc))
                self._error = str(exc)
            return self._registry

    @property
    def error(self) -> str | None:
        """Why the registry is unusable, if it is."""
        return self._error

    def check_public_key(self, public_key: str, now: datetime | None = None) -> KeyCheck:
        """Status of a Z85 public key against the current file."""
        reg = self.current()
        if reg is None:
            return KeyCheck(KeyStatus.UNAVAILABLE)
        return reg.check_public_key(public_key, now)

    def check_key_id(self, key_id: str, now: datetime | None = None) -> KeyCheck:
        """Status of a key id against the current file."""
        reg = self.current()
        if reg is None:
            return KeyCheck(KeyStatus.UNAVAILABLE)
        return reg.check_key_id(key_id, now)
