"""The digest of the C core's sources: one definition for its build and its import check.

``bindings/build_core.py`` compiles the digest of the checkout's sources into
``townlet._core`` (``tl_source_digest()``); ``townlet.frames.ring`` compares it at import
with the digest of the sources next to the package, so a pull that changes ``core/`` or
the cdef without a rebuild fails with how to rebuild, not with a missing symbol later.
An installed package without the sources is not checked (its extension was built with it).

Only the standard library is imported here: the build loads this file by its path,
before the package (numpy, numba) can be imported.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["BUILD_SCRIPT", "REBUILD", "SOURCES", "checkout_root", "digest", "source_files",
           "stale_reason"]

SOURCES = ("ring.c", "frame.c", "scan.c")
"""The C files in ``core/`` compiled into ``townlet._core``; every ``core/*.h`` counts too."""

BUILD_SCRIPT = "bindings/build_core.py"
"""The build script: its cdef and compiler flags shape the extension, so it is digested."""

REBUILD = "rebuild it with `python bindings/build_core.py` (or `pip install -e .`)"


def source_files(root: Path) -> list[Path]:
    """The files the extension is built from, in digest order."""
    core = root / "core"
    return sorted([core / name for name in SOURCES] + list(core.glob("*.h"))) + [root / BUILD_SCRIPT]


def digest(root: Path) -> str:
    """SHA-256 (hex) over the names, lengths and bytes of ``root``'s :func:`source_files`."""
    h = hashlib.sha256()
    for path in source_files(root):
        data = path.read_bytes()
        h.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def checkout_root() -> Path | None:
    """The source tree this package sits in (the directory holding ``townlet/``,
    ``core/`` and ``bindings/``), or None for an installed package without sources."""
    root = Path(__file__).parent.parent.parent
    return root if all(p.is_file() for p in source_files(root)) else None


def stale_reason(built: str | None, root: Path | None) -> str | None:
    """Why an extension built with digest ``built`` (None: built before digests existed)
    does not match the sources in ``root`` (None: no sources, nothing to compare), as an
    error message saying how to rebuild; None when it matches."""
    if built is None:
        return ("townlet._core was built from an older core/ (it has no source digest): "
                + REBUILD)
    if root is None or built == (now := digest(root)):
        return None
    return (f"townlet._core was built from other sources than {root / 'core'} and "
            f"{root / BUILD_SCRIPT} (built {built[:12]}, sources {now[:12]}; a pull or an "
            f"edit changed them): " + REBUILD)
