"""Name the config keys that differ between a snapshot and the running config.

The snapshot header carries the canonical JSON of what ``config_id`` hashes -- the
``world`` section, the part that decides what happens in the town -- so a mismatch can be
explained key by key (``world.town.agents``, ``world.jobs[1].wage``) instead of as two
opaque hashes. Serving settings (ports, snapshot root, autosave cadence) are not part of
it and never block a resume.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from townlet.config.loader import canonical_json

if TYPE_CHECKING:
    from townlet.config import TownletConfig

__all__ = ["SCOPE", "canonical_config", "diff_config_json", "diff_keys"]

SCOPE = "world"
"""The config section ``config_id`` covers; differing paths are reported under it."""


def canonical_config(cfg: TownletConfig) -> str:
    """Canonical JSON of the ``world`` section: the bytes ``config_id`` hashes (sorted keys).

    ``tests/test_snapshot_checks.py`` keeps the two in step.
    """
    return canonical_json(cfg).decode()


def diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Key paths whose values differ between two trees of builtins, in sorted order.

    A key present on one side only is reported as differing; lists are compared item by
    item and extra items are reported by index.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(path)
            else:
                out.extend(diff_keys(a[key], b[key], path))
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for i in range(max(len(a), len(b))):
            path = f"{prefix}[{i}]"
            if i >= len(a) or i >= len(b):
                out.append(path)
            else:
                out.extend(diff_keys(a[i], b[i], path))
        return out
    if type(a) is not type(b) or a != b:
        return [prefix or "<root>"]
    return []


def diff_config_json(saved: str, live: str) -> list[str]:
    """Differing key paths between two canonical config JSON documents.

    An empty or undecodable ``saved`` document yields an empty list (nothing to compare).
    """
    if not saved:
        return []
    try:
        old = msgspec.json.decode(saved)
    except msgspec.DecodeError:
        return []
    return diff_keys(old, msgspec.json.decode(live), SCOPE)
