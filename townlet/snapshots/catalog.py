"""What lives in a snapshot root, and file-to-file operations on it.

One implementation for the CLI (``townlet snapshot list|verify|migrate``) and the operator
console (``snapshot_list``/``snapshot_migrate``): results are typed Structs that encode
straight to JSON or msgpack.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec

from townlet.security.sandbox import Sandbox
from townlet.snapshots.errors import SnapshotError, SnapshotFormatError
from townlet.snapshots.format import utc_now
from townlet.snapshots.migrations import migrate
from townlet.snapshots.reader import open_snapshot, read_header
from townlet.snapshots.writer import write_snapshot

__all__ = ["MigrateResult", "SnapshotInfo", "VerifyResult", "list_snapshots", "migrate_file",
           "verify_file"]


class SnapshotInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """One file in the root: its header summary, or why it is not a valid snapshot."""

    name: str
    """Path relative to the root (POSIX)."""
    size: int
    tick: int | None = None
    schema: int | None = None
    origin: str | None = None
    config_id: str | None = None
    created_at: str | None = None
    error: str | None = None


class VerifyResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """Outcome of a full check of one file."""

    name: str
    ok: bool
    tick: int | None = None
    sections: int | None = None
    error: str | None = None


class MigrateResult(msgspec.Struct, frozen=True):
    """What ``migrate_file`` wrote."""

    source: str
    target: str
    from_schema: int
    to_schema: int
    applied: list[str]


def list_snapshots(root: str | os.PathLike[str]) -> list[SnapshotInfo]:
    """Every snapshot under ``root`` (recursively), oldest first, headers only.

    Hidden files (temporaries), symlinks and anything but regular files (a FIFO would block
    the reader) are skipped, and so is a file that vanishes while the root is listed
    (autosave pruning); a non-``.tsnap`` file without the magic is not a snapshot and is
    skipped; anything else that fails its header checks is listed with the error.
    """
    box = Sandbox(root)
    rows: list[SnapshotInfo] = []
    for dirpath, dirnames, filenames in os.walk(box.root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            if fname.startswith("."):
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            name, size = box.relative(path), st.st_size
            try:
                h = read_header(path)
            except (SnapshotError, OSError) as exc:
                if not os.path.lexists(path):  # pruned since the lstat
                    continue
                if isinstance(exc, SnapshotFormatError):
                    if exc.part == "prefix" and not fname.endswith(".tsnap"):
                        continue
                    error = f"{exc.part}: {exc.reason}"
                else:
                    error = str(exc) if isinstance(exc, SnapshotError) else (exc.strerror or str(exc))
                rows.append(SnapshotInfo(name, size, error=error))
            else:
                rows.append(SnapshotInfo(name, size, h.tick, h.schema_version, h.origin,
                                         h.config_id, h.created_at))
    rows.sort(key=lambda r: (r.created_at or "", r.name))
    return rows


def verify_file(root: str | os.PathLike[str], name: str) -> VerifyResult:
    """Fully check ``name`` (header, table, every section's checksum); never raises for a
    bad file or a forbidden path, it reports them."""
    from townlet.security.sandbox import ForbiddenPath

    try:
        snap = open_snapshot(Sandbox(root).resolve(name))
    except (SnapshotError, ForbiddenPath, OSError) as exc:
        return VerifyResult(name, False, error=str(exc))
    return VerifyResult(name, True, snap.header.tick, len(snap.header.sections))


def migrate_file(
    root: str | os.PathLike[str], source: str, target: str, *, overwrite: bool = False
) -> MigrateResult:
    """Rewrite ``source`` at the current schema as ``target`` (both inside ``root``).

    The source is fully verified first and kept; the target is written atomically with
    ``origin: migrated`` and the applied steps appended to its ``migrations``.
    """
    box = Sandbox(root)
    snap = open_snapshot(box.resolve(source))
    header, sections = migrate(snap.header, snap.sections)
    out = box.resolve_file(target)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = msgspec.structs.replace(header, origin="migrated", created_at=utc_now())
    write_snapshot(out, header, sections, overwrite=overwrite)
    return MigrateResult(source, box.relative(out), snap.header.schema_version,
                         header.schema_version,
                         list(header.migrations[len(snap.header.migrations):]))
