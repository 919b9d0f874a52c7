"""The on-disk layout of a snapshot file, defined once.

::

    offset 0   prefix (64 bytes, little-endian)
                 magic          8 bytes  b"\\x89TSNAP\\r\\n"
                 format_version u32
                 reserved       u32      (zero)
                 header_len     u64      bytes of JSON header that follow the prefix
                 file_size      u64      total size of the file (truncation check)
                 header_digest  16 bytes XXH3-128 of the header bytes
                 reserved       16 bytes (zero)
    offset 64  header: msgspec JSON of :class:`SnapshotHeader`
    then       sections, each starting on a 64-byte boundary (zero padding between),
               raw C-order array bytes; the file ends padded to 64 bytes.

Each section's name, dtype, shape, offset, length and XXH3-128 checksum sit in the header's
section table, so a reader maps the file once and hands out read-only array views (zero copy).
The magic starts with a high-bit byte and carries CR/LF, like PNG's, so text-mode
mangling is caught as a wrong magic rather than as a corrupt section.
"""

from __future__ import annotations

import datetime as _dt
import re
import struct
from typing import Annotated, Literal

import msgspec
import numpy as np
import xxhash
from msgspec import Meta

__all__ = [
    "ALIGN",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_HEADER_BYTES",
    "PREFIX_SIZE",
    "PolicyIdentity",
    "Prefix",
    "SectionEntry",
    "SnapshotHeader",
    "align",
    "check_dtype",
    "check_section_name",
    "checksum",
    "decode_header",
    "encode_header",
    "header_digest",
    "pack_prefix",
    "unpack_prefix",
    "utc_now",
]

MAGIC = b"\x89TSNAP\r\n"
FORMAT_VERSION = 1
ALIGN = 64
PREFIX_SIZE = 64
MAX_HEADER_BYTES = 64 * 1024 * 1024
_PREFIX = struct.Struct("<8sIIQQ16s16s")
assert _PREFIX.size == PREFIX_SIZE
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_DTYPE = re.compile(r"(\|b1|\|[iu]1|<[iu][248]|<f[248])\Z")

Origin = Literal["manual", "autosave", "migrated"]
PolicyHash = Annotated[
    str, Meta(pattern=r"^([0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{32,86}={0,2})$")
]
VariantName = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Ratio = Annotated[float, Meta(ge=0.0, le=1.0)]


class PolicyIdentity(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Which policy drove the world when it was saved (all optional)."""

    policy_hash: PolicyHash | None = None
    """Hash of the policy artifact (40/64 hex or 32-88 base64 characters); None = scripted."""
    observation_variant: VariantName | None = None
    """Observation variant the policy was trained on (e.g. ``"full"``)."""
    anneal_ratio: Ratio | None = None
    """Scripted-to-learned anneal ratio in [0, 1] at save time, if annealing."""
    policy_name: Annotated[str, Meta(max_length=64)] | None = None
    """Name of the learned policy (its checkpoint's name); None = scripted."""
    anneal_unit: Literal["agents", "decisions"] | None = None
    """What the anneal ratio counts: a share of agents or of decisions."""
    learned_agents: Annotated[int, Meta(ge=0)] | None = None
    """Agents the learned policy drove on the last tick before the save."""


class SectionEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One array section: where it lies in the file and how to view it."""

    name: str
    """Section name as in ``World.sections()`` (``agent_x``, ``rng_state`` ...)."""
    dtype: str
    """NumPy dtype string, little-endian or byte-order free (``<f4``, ``|b1`` ...)."""
    shape: tuple[int, ...]
    """Array shape, C order."""
    offset: int
    """Byte offset from the start of the file; a multiple of 64."""
    nbytes: int
    """Byte length; equals prod(shape) * itemsize."""
    checksum: str
    """XXH3-128 of the section bytes, 32 hex digits (big-endian canonical form)."""


class SnapshotHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Metadata of one snapshot plus its section table."""

    format_version: int
    """Container layout version (this module); a newer one is refused."""
    schema_version: int
    """World state layout version; older ones are migrated on load, newer refused."""
    config_id: str
    """``config_id`` of the config the world ran under."""
    config: str = ""
    """Canonical JSON of the config's ``world`` section (what ``config_id`` hashes); lets a
    mismatch name the differing keys."""
    tick: int
    """Ticks processed when the snapshot was taken."""
    seed: int
    """Seed the world was created with (the RNG states themselves are sections)."""
    created_at: str
    """UTC creation time, ISO 8601."""
    origin: Origin = "manual"
    """Who wrote it: an explicit save, the autosaver, or ``townlet snapshot migrate``."""
    townlet_version: str = ""
    """Version of the package that wrote it."""
    identity: PolicyIdentity = PolicyIdentity()
    """Policy identity at save time."""
    migrations: tuple[str, ...] = ()
    """Migration steps applied to produce this file (``"1->2: description"``)."""
    sections: tuple[SectionEntry, ...] = ()
    """Section table, in file order."""


class Prefix(msgspec.Struct, frozen=True):
    """The fixed 64-byte prefix, decoded."""

    magic: bytes
    format_version: int
    header_len: int
    file_size: int
    header_digest: bytes
    reserved: bytes


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(SnapshotHeader)


def checksum(data: bytes | memoryview | np.ndarray) -> str:
    """XXH3-128 of ``data`` as 32 hex digits: the per-section checksum.

    A fast non-cryptographic hash (tens of GB/s) that catches corruption, truncation and
    edits; like any unkeyed checksum it cannot prove who wrote a file (see docs).
    """
    return xxhash.xxh3_128_hexdigest(data.data if isinstance(data, np.ndarray) else data)


def header_digest(data: bytes) -> bytes:
    """XXH3-128 of the header bytes, as the 16 raw bytes stored in the prefix."""
    return xxhash.xxh3_128_digest(data)


def utc_now() -> str:
    """Current UTC time, ISO 8601 with microseconds and a ``Z`` (sorts chronologically)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def align(n: int) -> int:
    """Round ``n`` up to the next multiple of :data:`ALIGN`."""
    return -(-n // ALIGN) * ALIGN


def pack_prefix(header_len: int, file_size: int, header_digest: bytes) -> bytes:
    """Encode the prefix for the current :data:`FORMAT_VERSION`."""
    return _PREFIX.pack(MAGIC, FORMAT_VERSION, 0, header_len, file_size, header_digest, bytes(16))


def unpack_prefix(raw: bytes) -> Prefix:
    """Decode the first :data:`PREFIX_SIZE` bytes (length already checked by the caller)."""
    magic, version, flags, header_len, file_size, digest, reserved = _PREFIX.unpack(raw)
    return Prefix(magic, version, header_len, file_size, digest, flags.to_bytes(4) + reserved)


def encode_header(header: SnapshotHeader) -> bytes:
    """Header to bytes (JSON, fields in declaration order: stable length for fixed values)."""
    return _ENCODER.encode(header)


def decode_header(raw: bytes | memoryview) -> SnapshotHeader:
    """Bytes to header; raises ``msgspec.DecodeError``/``ValidationError`` with a path."""
    return _DECODER.decode(raw)


def check_section_name(name: object) -> str:
    """Return ``name`` if it is a valid section name, else raise ``ValueError``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"invalid section name {name!r}: expected lowercase letters, digits and '_', "
            "starting with a letter, at most 64 characters"
        )
    return name


def check_dtype(dtype_str: str) -> np.dtype:
    """Return the dtype for a whitelisted dtype string, else raise ``ValueError``.

    Only plain little-endian/byte-order-free bool, integer and float dtypes are allowed:
    no objects, no structured or void types, so nothing in a file can ask for more than
    a flat numeric view.
    """
    if not _DTYPE.match(dtype_str):
        raise ValueError(
            f"unsupported dtype {dtype_str!r}: expected bool, (u)int8..64 or float16..64, "
            "little-endian"
        )
    return np.dtype(dtype_str)
