"""Errors raised by the snapshot layer.

Every failure names *where* it happened (the file and, when it is about one part of
the file, the part: ``prefix``, ``header`` or a section name) so an operator can tell
a truncated copy from a tampered array from a config drift without a debugger.
"""

from __future__ import annotations

__all__ = [
    "ConfigMismatchError",
    "SnapshotError",
    "SnapshotFormatError",
    "SnapshotStateError",
    "SnapshotVersionError",
]


class SnapshotError(Exception):
    """Base class: anything that stops a snapshot from being written, read or applied."""


class SnapshotFormatError(SnapshotError):
    """The file is not a valid snapshot: wrong magic, truncated, corrupt or tampered.

    Parameters
    ----------
    path
        The file that was being read.
    part
        ``"prefix"``, ``"header"`` or ``"section 'name'"``: the part of the file at fault.
    reason
        What is wrong with it.
    """

    def __init__(self, path: str, part: str, reason: str) -> None:
        self.path = path
        self.part = part
        self.reason = reason
        super().__init__(f"{path}: {part}: {reason}")


class SnapshotVersionError(SnapshotError):
    """The file's format or schema version is newer than this build, or has no migration."""


class SnapshotStateError(SnapshotError):
    """The snapshot's sections do not fit the world they are loaded into.

    ``section`` names the first section whose name, dtype or shape disagrees.
    """

    def __init__(self, section: str, reason: str) -> None:
        self.section = section
        self.reason = reason
        super().__init__(f"section {section!r}: {reason}")


class ConfigMismatchError(SnapshotError):
    """The snapshot was written under another config; ``keys`` lists the differing paths."""

    def __init__(self, saved_id: str, live_id: str, keys: list[str]) -> None:
        self.saved_id = saved_id
        self.live_id = live_id
        self.keys = keys
        shown = ", ".join(keys[:20]) + (f" (+{len(keys) - 20} more)" if len(keys) > 20 else "")
        super().__init__(
            f"snapshot config_id {saved_id} differs from the running config {live_id}; "
            f"differing keys: {shown or '(unknown: the snapshot carries no config)'}; "
            "pass --allow-config-mismatch to load it anyway"
        )
