"""Gates a verified snapshot passes before it may replace a world's state.

Kept apart from the world so they can be tested on plain arrays: the config gate (refuse
a different ``config_id`` unless explicitly allowed, naming the differing keys) and the
fit gate (every section the world has, with its exact dtype and shape, and nothing else).
Both run before the world is touched, so a refusal leaves the running world as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from townlet.snapshots.configdiff import diff_config_json
from townlet.snapshots.errors import ConfigMismatchError, SnapshotStateError
from townlet.snapshots.format import SnapshotHeader

__all__ = ["check_config", "check_fits"]

log = logging.getLogger("townlet.snapshots")


def check_config(
    header: SnapshotHeader, live_id: str, live_config: str, *, allow_config_mismatch: bool
) -> list[str]:
    """Compare the snapshot's config with the running one.

    Parameters
    ----------
    header
        The snapshot header (carries ``config_id`` and the canonical config JSON).
    live_id, live_config
        ``config_id`` and canonical JSON of the running config.
    allow_config_mismatch
        Accept a mismatch (logged as a warning) instead of refusing it.

    Returns
    -------
    list[str]
        The differing key paths (empty when the ids match).

    Raises
    ------
    ConfigMismatchError
        The ids differ and ``allow_config_mismatch`` is false.
    """
    if header.config_id == live_id:
        return []
    keys = diff_config_json(header.config, live_config)
    if not allow_config_mismatch:
        raise ConfigMismatchError(header.config_id, live_id, keys)
    log.warning(
        "loading snapshot written under config %s into config %s (allowed); differing keys: %s",
        header.config_id, live_id, ", ".join(keys) or "(unknown)",
    )
    return keys


def check_fits(sections: Mapping[str, np.ndarray], live: Mapping[str, np.ndarray]) -> None:
    """Raise :class:`SnapshotStateError` unless ``sections`` match ``live`` exactly.

    Same names, and for each the same dtype and shape; the first disagreement (in the
    world's own section order) is named.
    """
    for name, current in live.items():
        if name not in sections:
            raise SnapshotStateError(name, "missing from the snapshot")
        new = sections[name]
        if new.dtype != current.dtype or new.shape != current.shape:
            raise SnapshotStateError(
                name,
                f"snapshot has {new.dtype}{new.shape}, this world needs "
                f"{current.dtype}{current.shape} (different town size or config?)",
            )
    extra = sorted(set(sections) - set(live))
    if extra:
        raise SnapshotStateError(extra[0], "is not part of this world's state")
