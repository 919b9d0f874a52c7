"""Whether a security file (key registry, key certificate) may be trusted.

A file that someone other than its owner can change cannot be trusted: whoever can
write the registry can grant themselves admin, and whoever can write a server public
key file can put themselves between a client and the server. Such a file is refused,
like ssh refuses a group-writable ``authorized_keys``.
"""

from __future__ import annotations

import os
import stat

__all__ = ["untrusted"]


def untrusted(st: os.stat_result) -> str | None:
    """Why users other than this process's user (or root) could change a file with this
    status, or ``None`` when they cannot."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "writable by group or others"
    if st.st_uid not in (0, os.geteuid()):
        return f"owned by another user (uid {st.st_uid})"
    return None
