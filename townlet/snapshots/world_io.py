"""Save a :class:`~townlet.world.World` to a snapshot and bring one back, exactly.

Every path is a name inside the snapshot root, confined by the shared
:class:`townlet.security.sandbox.Sandbox`. Loading runs every gate first (file checks,
migrations, config, section fit) and only then replaces the world's state in one call, so
a refused snapshot leaves the running world untouched.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import townlet
from townlet.security.sandbox import Sandbox
from townlet.snapshots import capture as _capture
from townlet.snapshots.autosave import Autosaver
from townlet.snapshots.capture import Helper, fill_frame, new_frame
from townlet.snapshots.checks import check_config, check_fits
from townlet.snapshots.configdiff import canonical_config
from townlet.snapshots.errors import SnapshotStateError
from townlet.snapshots.format import Origin, PolicyIdentity, SnapshotHeader, utc_now
from townlet.snapshots.migrations import SCHEMA_VERSION, migrate
from townlet.snapshots.reader import Snapshot, open_snapshot
from townlet.snapshots.temps import clean_temps
from townlet.snapshots.writer import write_snapshot

if TYPE_CHECKING:
    from townlet.config import TownletConfig
    from townlet.world import World

__all__ = [
    "AutosaveHook",
    "autosave_hook",
    "capture_world",
    "load_into",
    "open_in_root",
    "prepare",
    "resume_world",
    "save_world",
    "start_autosaver",
]


def capture_world(
    world: World, into: dict[str, np.ndarray] | None = None, *,
    identity: PolicyIdentity | None = None, origin: Origin = "manual", copy: bool = True,
    helper: Helper | None = None,
) -> tuple[SnapshotHeader, dict[str, np.ndarray]]:
    """Header and sections of ``world`` now.

    ``copy=True`` returns a frame nothing else writes (townlet.snapshots.capture: the
    town's layout is referenced, the rest copied into ``into``'s arrays when their names,
    dtypes and shapes match); with ``helper`` (a single-thread executor's ``submit``) it
    shares the copy, copies the agents' rows there while the world steps on
    (``World.copy_ahead``) and finishes the frame there: the frame is complete for the
    helper's later jobs; the world keeps the copy ahead's handle (and so the frame's
    arrays) to rearm it for the next capture into the same frame, until
    ``World.release_capture``. ``copy=False`` returns the live arrays, for a save that
    finishes before the next tick.
    """
    live = world.sections()
    if copy:
        sections = new_frame(live, into)
        ahead = None if helper is None else world.copy_ahead(sections, _capture.BLOCK_ROWS,
                                                            _capture.BLOCK_BYTES)
        fill_frame(live, sections, helper, None if ahead is None else ahead.run)
    else:
        sections = dict(live)
    header = SnapshotHeader(
        format_version=0,
        schema_version=SCHEMA_VERSION,
        config_id=world.config_id,
        config=canonical_config(world.config),
        tick=world.tick,
        seed=world.seed,
        created_at=utc_now(),
        origin=origin,
        townlet_version=townlet.__version__,
        identity=identity or PolicyIdentity(),
    )
    return header, sections


def save_world(
    world: World, name: str, *, root: str | os.PathLike[str] | None = None,
    identity: PolicyIdentity | None = None, overwrite: bool = False,
) -> tuple[Path, SnapshotHeader]:
    """Write ``world`` to ``name`` inside the snapshot root (default: its config's root).

    Returns the real path written and the header. Raises ``ForbiddenPath`` for a name that
    leaves the root, ``IsADirectoryError`` for one that names a directory, and
    :class:`SnapshotError` if the file exists and ``overwrite`` is false.
    """
    box = Sandbox(world.config.snapshots.root if root is None else root)
    path = box.resolve_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    header, sections = capture_world(world, identity=identity, copy=False)
    return path, write_snapshot(path, header, sections, overwrite=overwrite)


def open_in_root(name: str, root: str | os.PathLike[str], *, verify: bool = True) -> Snapshot:
    """Open and fully check the snapshot ``name`` inside ``root``."""
    return open_snapshot(Sandbox(root).resolve(name), verify=verify)


def prepare(
    snapshot: Snapshot, cfg: TownletConfig, *, allow_config_mismatch: bool
) -> tuple[SnapshotHeader, dict[str, np.ndarray]]:
    """Migrate to the current schema and pass the config gate; nothing is modified."""
    from townlet.config import config_id

    header, sections = migrate(snapshot.header, snapshot.sections)
    check_config(header, config_id(cfg), canonical_config(cfg),
                 allow_config_mismatch=allow_config_mismatch)
    return header, sections


def _apply(world: World, sections: Mapping[str, np.ndarray]) -> None:
    check_fits(sections, world.sections())
    from townlet.world.validate import StateRangeError

    try:
        world.load_sections(dict(sections))
    except StateRangeError as exc:  # the world's own range checks
        raise SnapshotStateError(exc.section, str(exc)) from None


def load_into(
    world: World, name: str, *, root: str | os.PathLike[str] | None = None,
    allow_config_mismatch: bool = False,
) -> SnapshotHeader:
    """Replace ``world``'s state with the snapshot ``name``; all-or-nothing.

    The world's own config is the running config the snapshot is checked against.
    """
    snap = open_in_root(name, world.config.snapshots.root if root is None else root)
    header, sections = prepare(snap, world.config, allow_config_mismatch=allow_config_mismatch)
    _apply(world, sections)
    return header


def resume_world(path: str, cfg: TownletConfig, allow_config_mismatch: bool = False) -> World:
    """A new world, in the exact state saved in ``path`` (a name inside ``cfg``'s root).

    The world is built from ``cfg`` and the snapshot's seed, then its state is replaced;
    stepping it continues the saved run bit for bit when the config matches.
    """
    snap = open_in_root(path, cfg.snapshots.root)
    header, sections = prepare(snap, cfg, allow_config_mismatch=allow_config_mismatch)
    from townlet.world import World  # the kernel loads only once the snapshot is accepted

    world = World(cfg, seed=header.seed)
    _apply(world, sections)
    return world


def start_autosaver(cfg: TownletConfig) -> Autosaver | None:
    """An :class:`Autosaver` writing into ``cfg``'s snapshot root, or None when disabled.

    Drive it from the loop with
    ``saver.offer(world.tick, lambda spare: capture_world(world, spare))``
    after each step and ``saver.close()`` at the end. Stale temporary files in the root
    (saves killed mid-write) are removed first.
    """
    s = cfg.snapshots
    if s.autosave_every == 0:
        return None
    root = Sandbox(s.root).root
    clean_temps(root)  # left by runs killed mid-save
    return Autosaver(root, s.autosave_every, s.keep_last)


class AutosaveHook:
    """A ``townlet.sim.Simulation`` tick hook that autosaves after each step when due.

    ``identity`` is called at capture time for the policy identity to record (None: none).
    """

    def __init__(self, saver: Autosaver,
                 identity: Callable[[], PolicyIdentity | None] | None = None) -> None:
        self.saver = saver
        self.identity = identity

    def before(self, world: World) -> None:
        """Nothing to do before the step: autosaves capture the state after it."""

    def after(self, world: World) -> None:
        def capture(spare: dict[str, np.ndarray] | None):
            ident = self.identity() if self.identity is not None else None
            self.saver.on_close(world.release_capture)
            return capture_world(world, spare, identity=ident, helper=self.saver.assist)

        self.saver.offer(world.tick, capture)

    def close(self) -> None:
        self.saver.close()


def autosave_hook(
    cfg: TownletConfig, identity: Callable[[], PolicyIdentity | None] | None = None
) -> AutosaveHook | None:
    """The autosave hook for ``cfg`` (``sim.add_hook(...)``), or None when autosave is off."""
    saver = start_autosaver(cfg)
    return None if saver is None else AutosaveHook(saver, identity)
