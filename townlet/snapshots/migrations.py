"""Schema migrations: one registered step per version, k -> k+1, applied in order.

The *schema version* describes the world's state layout (section names, dtypes, shapes);
it changes whenever ``townlet.world.state`` changes, and each change ships the step that
rewrites the previous layout into the new one. Steps work on plain arrays, never on
live objects, so a migration is a pure function that can be tested on a fixture written
with the old layout. Loading applies the chain in memory; ``townlet snapshot migrate``
writes the result to a new file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import msgspec
import numpy as np

from townlet.snapshots.errors import SnapshotVersionError
from townlet.snapshots.format import SnapshotHeader

__all__ = [
    "OLDEST_SCHEMA",
    "SCHEMA_VERSION",
    "Migration",
    "Sections",
    "migrate",
    "register",
    "registry",
]

Sections = dict[str, np.ndarray]
MigrateFn = Callable[[Mapping[str, np.ndarray], SnapshotHeader], Sections]

SCHEMA_VERSION = 8
"""Layout of the state this build reads and writes."""
OLDEST_SCHEMA = 1
"""Oldest layout a chain of registered steps still reaches :data:`SCHEMA_VERSION` from."""


class Migration(NamedTuple):
    """One step from ``source`` to ``source + 1``."""

    source: int
    description: str
    fn: MigrateFn


_REGISTRY: dict[int, Migration] = {}


def register(source: int, description: str) -> Callable[[MigrateFn], MigrateFn]:
    """Decorator: register ``fn`` as the step ``source -> source + 1``.

    The function receives the old sections (read-only arrays) and header and returns the
    complete new section dict; it must not modify its input.
    """

    def deco(fn: MigrateFn) -> MigrateFn:
        if source in _REGISTRY:
            raise ValueError(f"a migration from schema {source} is already registered")
        _REGISTRY[source] = Migration(source, description, fn)
        return fn

    return deco


def registry() -> dict[int, Migration]:
    """The registered steps by source version (a copy)."""
    _load_steps()
    return dict(_REGISTRY)


def _load_steps() -> None:
    # The steps live in their own module; importing it registers them.
    from townlet.snapshots import migration_steps  # noqa: F401


def migrate(
    header: SnapshotHeader, sections: Mapping[str, np.ndarray]
) -> tuple[SnapshotHeader, Sections]:
    """Bring a snapshot to :data:`SCHEMA_VERSION`.

    Returns the header (with ``schema_version`` updated and the applied steps appended to
    ``migrations``) and the sections; unchanged input is returned as is (no copy).

    Raises
    ------
    SnapshotVersionError
        The schema is newer than this build, or no registered chain reaches the current one.
    """
    _load_steps()
    version = header.schema_version
    if version > SCHEMA_VERSION:
        raise SnapshotVersionError(
            f"schema version {version} is newer than this build supports ({SCHEMA_VERSION}); "
            "upgrade townlet to load it"
        )
    out: Sections = dict(sections)
    applied = list(header.migrations)
    while version < SCHEMA_VERSION:
        step = _REGISTRY.get(version)
        if step is None:
            raise SnapshotVersionError(
                f"schema version {version} cannot be migrated: no step {version}->{version + 1} "
                f"is registered (oldest supported: {OLDEST_SCHEMA})"
            )
        out = step.fn(out, header)
        version += 1
        applied.append(f"{step.source}->{version}: {step.description}")
        header = msgspec.structs.replace(header, schema_version=version)
    return msgspec.structs.replace(header, migrations=tuple(applied)), out
