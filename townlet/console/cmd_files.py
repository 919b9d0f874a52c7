"""Read-only file listing under the snapshot root (every path goes through the sandbox)."""

from __future__ import annotations

import os
import stat
from typing import Annotated

import msgspec
from msgspec import Meta

from townlet.console.context import CommandContext
from townlet.console.errors import CommandError

__all__ = ["files"]

_MAX_ENTRIES = 1000


class FilesArgs(msgspec.Struct, forbid_unknown_fields=True):
    path: Annotated[str, Meta(max_length=4096)] = "."
    """Directory or file, relative to the snapshot root."""


class Entry(msgspec.Struct):
    name: str
    kind: str
    """``file``, ``dir`` or ``other``."""
    size: int
    mtime: float


class Listing(msgspec.Struct):
    path: str
    entries: list[Entry]
    truncated: bool


def _entry(name: str, st: os.stat_result) -> Entry:
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
    return Entry(name=name, kind=kind, size=st.st_size, mtime=round(st.st_mtime, 3))


def files(ctx: CommandContext, p: FilesArgs) -> Listing:
    """List files under the snapshot root (paths are sandboxed: E_FORBIDDEN_PATH)."""
    if ctx.sandbox is None:
        raise CommandError("E_UNSUPPORTED", "no snapshot root is configured on this server")
    real = ctx.sandbox.resolve(p.path)
    rel = ctx.sandbox.relative(real) or "."
    st = os.stat(real)  # OS errors (missing, name too long) become codes in execute
    if not stat.S_ISDIR(st.st_mode):
        return Listing(path=rel, entries=[_entry(real.name, st)], truncated=False)
    out: list[Entry] = []
    with os.scandir(real) as it:
        for de in sorted(it, key=lambda d: d.name):
            if len(out) == _MAX_ENTRIES:
                return Listing(path=rel, entries=out, truncated=True)
            try:
                out.append(_entry(de.name, de.stat(follow_symlinks=False)))
            except FileNotFoundError:  # removed since the directory was read (pruning)
                continue
    return Listing(path=rel, entries=out, truncated=False)
