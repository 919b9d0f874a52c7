"""Where a run keeps its runtime state: one directory, ``.townlet/`` under the working
directory, ignored by git. Keys, the console audit log and snapshots default to
places inside it, so a run in a checkout never writes tracked files."""

from __future__ import annotations

from typing import Final

__all__ = ["AUDIT_PATH", "KEYS_DIR", "PROMOTION_DIR", "SNAPSHOTS_DIR", "STATE_DIR"]

STATE_DIR: Final = ".townlet"
"""Root of all runtime state (relative to the working directory)."""
KEYS_DIR: Final = f"{STATE_DIR}/keys"
"""Server keypair, client credentials and the key registry (``townlet keys``)."""
AUDIT_PATH: Final = f"{STATE_DIR}/logs/console/audit.jsonl"
"""The console's audit log (JSON lines, rotated)."""
SNAPSHOTS_DIR: Final = f"{STATE_DIR}/snapshots"
"""Snapshot files (``townlet snapshot``, autosaves, ``--resume``)."""
PROMOTION_DIR: Final = f"{STATE_DIR}/promotion"
"""Promotion state: release and shadow policy slots and their history (``townlet promote``)."""
