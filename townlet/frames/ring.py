"""Thin Python face of the C ring (``townlet._core``): handles and typed errors.

The writer and reader modules build on this; nothing here knows about columns. Every
module of the package takes ``ffi`` and ``lib`` from here, so the import fails with how to
rebuild when the extension was built from other sources than the checkout's
(townlet.frames.core_digest).
"""

from __future__ import annotations

import hashlib
import os

from townlet._core import ffi, lib
from townlet.frames import core_digest

_stale = core_digest.stale_reason(
    ffi.string(lib.tl_source_digest()).decode() if hasattr(lib, "tl_source_digest") else None,
    core_digest.checkout_root())
if _stale is not None:
    raise ImportError(_stale)

LAYOUT_VERSION = 2
"""The ring layout (core/ring.h TR_LAYOUT_VERSION) this Python code is written against."""
if lib.TR_LAYOUT_VERSION != LAYOUT_VERSION:
    raise ImportError(f"townlet._core has ring layout {lib.TR_LAYOUT_VERSION}, this code "
                      f"needs {LAYOUT_VERSION}: {core_digest.REBUILD}")

__all__ = [
    "LappedRead",
    "NotPublished",
    "RingError",
    "RingExists",
    "RingHandle",
    "RingNotFound",
    "SchemaMismatch",
    "TornRead",
    "check",
    "ffi",
    "lib",
]


class RingError(RuntimeError):
    """A ring operation failed; ``code`` is the C result code."""

    def __init__(self, what: str, code: int) -> None:
        reason = ffi.string(lib.tr_strerror(code)).decode()
        if code == lib.TR_ESYS:
            reason += f" ({os.strerror(ffi.errno)})"
        super().__init__(f"{what}: {reason}")
        self.code = code


class RingNotFound(RingError):
    """No segment of that name exists."""


class RingExists(RingError):
    """A segment of that name already exists."""


class SchemaMismatch(RingError):
    """The segment's schema hash differs from the expected schema."""


class LappedRead(RingError):
    """The requested frame was overwritten by a later one before it could be read."""


class TornRead(RingError):
    """The frame changed while it was being copied; the copy was discarded."""


class NotPublished(RingError):
    """The requested frame has not been published yet."""


_ERRORS = {
    lib.TR_ENOENT: RingNotFound,
    lib.TR_EEXIST: RingExists,
    lib.TR_ESCHEMA: SchemaMismatch,
    lib.TR_LAPPED: LappedRead,
    lib.TR_TORN: TornRead,
    lib.TR_NOT_READY: NotPublished,
}


def check(rc: int, what: str) -> int:
    """Return ``rc`` if it is not an error code, else raise the matching RingError."""
    if rc < 0:
        raise _ERRORS.get(rc, RingError)(what, rc)
    return rc


class RingHandle:
    """Owns one ``tr_ring *`` (a mapping of the segment); closes it exactly once."""

    def __init__(self, name: str, ptr) -> None:
        self.name = name
        self._ptr = ptr

    @classmethod
    def create(cls, name: str, schema_doc: bytes, n_slots: int, frame_capacity: int,
               writer_pid: int, writer_starttime: int, ev_record_size: int = 0,
               ev_capacity: int = 0) -> RingHandle:
        """Create a new segment, exclusive (RingExists if the name is taken), with an
        event log of ``ev_capacity`` records of ``ev_record_size`` bytes (0, 0: none)."""
        out = ffi.new("tr_ring **")
        digest = hashlib.sha256(schema_doc).digest()
        check(lib.tr_create(name.encode(), digest, schema_doc, len(schema_doc), n_slots,
                            frame_capacity, writer_pid, writer_starttime, ev_record_size,
                            ev_capacity, out),
              f"create ring {name}")
        return cls(name, out[0])

    @classmethod
    def attach(cls, name: str, expected_hash: bytes | None = None) -> RingHandle:
        """Map an existing segment read-only, optionally requiring a schema hash."""
        out = ffi.new("tr_ring **")
        check(lib.tr_attach(name.encode(), expected_hash if expected_hash else ffi.NULL, out),
              f"attach ring {name}")
        return cls(name, out[0])

    @property
    def ptr(self):
        """The raw handle; RingError if already closed."""
        if self._ptr is None:
            raise RingError(f"ring {self.name} is closed", lib.TR_EINVAL)
        return self._ptr

    def schema_doc(self) -> bytes:
        """The schema document stored in the header (verified against its hash)."""
        n = lib.tr_schema_doc(self.ptr, ffi.NULL, 0)
        buf = ffi.new("uint8_t[]", max(n, 1))
        lib.tr_schema_doc(self.ptr, buf, n)
        doc = bytes(ffi.buffer(buf, n))
        stored = ffi.new("uint8_t[32]")
        lib.tr_schema_hash(self.ptr, stored)
        if hashlib.sha256(doc).digest() != bytes(stored):
            raise RingError(f"ring {self.name}: schema document does not match its hash",
                            lib.TR_EMAGIC)
        return doc

    def close(self) -> None:
        """Unmap (never unlinks); idempotent."""
        if self._ptr is not None:
            lib.tr_close(self._ptr)
            self._ptr = None

    def __del__(self) -> None:
        self.close()
