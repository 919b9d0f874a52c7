"""Snapshot commands: save, load, list, verify and migrate world snapshots.

Every name is resolved by the server's one :class:`~townlet.security.sandbox.Sandbox`
(``server.sandbox``, built from ``snapshot_root``) before anything is opened, and the
snapshot package is then called with that sandbox's root, so the path rules are the
sandbox's and nobody else's. ``snapshot_save`` and ``snapshot_load`` run on the tick
(between two steps, so a save is one consistent state and the step after a load
continues from the snapshot); list, verify and migrate never touch the world and are
answered on the console's I/O thread. Snapshot errors become codes in
:mod:`townlet.console.execute`, like every other error.

Roles: ``snapshot_list`` is viewer: it reads only file headers inside the root and shows
what ``files`` and ``status`` already show (names, sizes, ticks, config ids).
``snapshot_verify`` is admin: it reads and checksums whole files on the console I/O
thread, so a viewer could use it to keep that thread (every client's replies) busy; and
it is the check an admin runs before a load. Saving, loading and migrating are admin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from townlet.console.context import CommandContext
from townlet.console.errors import CommandError, hide_root
from townlet.security.sandbox import Sandbox
from townlet.snapshots.catalog import (
    MigrateResult,
    SnapshotInfo,
    VerifyResult,
    list_snapshots,
    migrate_file,
    verify_file,
)
from townlet.snapshots.format import PolicyIdentity

__all__ = ["snapshot_list", "snapshot_load", "snapshot_migrate", "snapshot_save",
           "snapshot_verify"]

PathArg = Any
"""A name inside the snapshot root: a string, or raw bytes (msgpack ``bin``), accepted so
that the sandbox, not the argument parser, refuses a non-UTF-8 name (E_FORBIDDEN_PATH);
msgspec cannot type a ``str | bytes`` union, so :func:`_resolve` checks the type."""
_MAX_NAME = 4096


class SaveArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: PathArg
    """File to write: a string path relative to the snapshot root (``runs/a.tsnap``)."""
    overwrite: bool = False
    """Replace an existing file of that name."""


class LoadArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: PathArg
    """Snapshot to load: a string path relative to the snapshot root."""
    allow_config_mismatch: bool = False
    """Load a snapshot written under another config (sizes must still fit; logged)."""


class ListArgs(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=10_000)] = 1000
    """Most rows returned (oldest first)."""


class VerifyArgs(msgspec.Struct, forbid_unknown_fields=True):
    name: PathArg
    """Snapshot to check: a string path relative to the snapshot root."""


class MigrateArgs(msgspec.Struct, forbid_unknown_fields=True):
    source: PathArg
    """Snapshot to read (kept): a string path relative to the snapshot root."""
    target: PathArg
    """File to write at the current schema: a string path relative to the root."""
    overwrite: bool = False
    """Replace ``target`` if it exists."""


class Saved(msgspec.Struct):
    name: str
    """The file written, relative to the snapshot root."""
    tick: int
    size: int
    """Bytes written."""
    config_id: str
    state_hash: str
    """``World.state_hash()`` of the saved state."""


class Loaded(msgspec.Struct):
    name: str
    previous_tick: int
    """Tick of the state that was replaced."""
    tick: int
    """Tick of the loaded state; the next step continues from here."""
    config_id: str
    """Config the snapshot was written under."""
    config_mismatch: bool
    """True when it differs from the running config (only with allow_config_mismatch)."""
    migrations: list[str]
    """The loaded state's migration history: steps recorded in the file plus any applied
    while loading (empty for a file written at the current schema)."""
    state_hash: str
    """``World.state_hash()`` right after loading."""


class Listing(msgspec.Struct):
    snapshots: list[SnapshotInfo]
    """Oldest first; invalid files are listed with their ``error``."""
    truncated: bool


def _sandbox(ctx: CommandContext) -> Sandbox:
    if ctx.sandbox is None:
        raise CommandError("E_UNSUPPORTED", "no snapshot root is configured on this server")
    return ctx.sandbox


def _resolve(box: Sandbox, name: Any, *, write: bool = False) -> tuple[Path, str]:
    """Real path and root-relative name of ``name``; the sandbox decides what is allowed
    (for a file to ``write``, also that it is not the root or a directory)."""
    if not isinstance(name, (str, bytes)):
        raise CommandError("E_INVALID_ARG", f"a snapshot name must be a string, "
                           f"got {type(name).__name__}")
    if len(name) > _MAX_NAME:
        raise CommandError("E_INVALID_ARG", f"a snapshot name is at most {_MAX_NAME} long")
    real = box.resolve_file(name) if write else box.resolve(name)
    return real, box.relative(real)


def _existing(box: Sandbox, name: Any) -> str:
    """The root-relative name of an existing file (sandbox-checked), or E_NOT_FOUND."""
    real, rel = _resolve(box, name)
    if not real.exists():
        raise CommandError("E_NOT_FOUND", f"no such snapshot: {rel!r}")
    return rel


def _target(box: Sandbox, name: Any, overwrite: bool) -> str:
    """The root-relative name of a file to write (sandbox-checked; never the root or a
    directory); E_INVALID_ARG if it exists and ``overwrite`` is false."""
    real, rel = _resolve(box, name, write=True)
    if real.exists() and not overwrite:
        raise CommandError("E_INVALID_ARG", f"{rel!r} already exists; choose another name "
                           "or pass overwrite=true")
    return rel


def _identity(ctx: CommandContext) -> PolicyIdentity | None:
    ident = ctx.policy.identity
    if ident.policy_hash is None and ctx.policy.policy_hash is not None:
        return PolicyIdentity(policy_hash=ctx.policy.policy_hash)
    return None if ident.policy_hash is None else ident


def snapshot_save(ctx: CommandContext, p: SaveArgs) -> Saved:
    """Save the running world's complete state as a snapshot file (between two ticks)."""
    box = _sandbox(ctx)
    rel = _target(box, p.name, p.overwrite)
    from townlet.snapshots.world_io import save_world  # the simulation's: the front has no world

    w = ctx.world
    path, header = save_world(w, rel, root=box.root, identity=_identity(ctx),
                              overwrite=p.overwrite)
    return Saved(name=rel, tick=header.tick, size=path.stat().st_size,
                 config_id=header.config_id, state_hash=w.state_hash())


def snapshot_load(ctx: CommandContext, p: LoadArgs) -> Loaded:
    """Replace the running world's state with a snapshot; all or nothing."""
    box = _sandbox(ctx)
    rel = _existing(box, p.name)
    from townlet.snapshots.world_io import load_into  # the simulation's: the front has no world

    w = ctx.world
    before = int(w.tick)
    header = load_into(w, rel, root=box.root, allow_config_mismatch=p.allow_config_mismatch)
    return Loaded(name=rel, previous_tick=before, tick=int(w.tick), config_id=header.config_id,
                  config_mismatch=header.config_id != w.config_id,
                  migrations=list(header.migrations), state_hash=w.state_hash())


def snapshot_list(ctx: CommandContext, p: ListArgs) -> Listing:
    """Snapshots under the snapshot root with tick, schema and config (headers only)."""
    box = _sandbox(ctx)
    rows = list_snapshots(box.root)
    shown = [r if r.error is None else msgspec.structs.replace(r, error=hide_root(r.error, box))
             for r in rows[:p.limit]]
    return Listing(snapshots=shown, truncated=len(rows) > p.limit)


def snapshot_verify(ctx: CommandContext, p: VerifyArgs) -> VerifyResult:
    """Fully check one snapshot file (header and every section's checksum); loads nothing."""
    box = _sandbox(ctx)
    r = verify_file(box.root, _existing(box, p.name))
    return r if r.error is None else msgspec.structs.replace(r, error=hide_root(r.error, box))


def snapshot_migrate(ctx: CommandContext, p: MigrateArgs) -> MigrateResult:
    """Rewrite a snapshot at the current schema version under a new name (source kept)."""
    box = _sandbox(ctx)
    source = _existing(box, p.source)
    target = _target(box, p.target, p.overwrite)
    return migrate_file(box.root, source, target, overwrite=p.overwrite)
