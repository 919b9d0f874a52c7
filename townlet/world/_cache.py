"""Keep Numba's on-disk cache consistent with the kernel's sources.

Numba keys a cached function on its own file only, so after editing a helper
module (say ``policy.py``) the cached ``tick`` in ``kernel.py`` would still run
the old helper. Before any kernel module is imported we hash the sources of the
compiled packages (and of ``config``, whose names they compile in as constants)
and, when the hash changed, drop their cache files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["ensure_fresh_cache"]

_COMPILED = ("world", "rl")
_SOURCES = _COMPILED + ("config",)
"""Packages whose code or constants end up in compiled functions (config names the
needs, prices and object types the kernels index by)."""
_STAMP = "townlet-kernel.stamp"


def _cache_dirs(package_root: Path) -> list[Path]:
    override = os.environ.get("NUMBA_CACHE_DIR")
    dirs = []
    for name in _COMPILED:
        src = package_root / name
        if override:
            dirs.append(Path(override) / src.resolve().relative_to(src.resolve().anchor))
        else:
            dirs.append(src / "__pycache__")
    return dirs


def ensure_fresh_cache() -> None:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _SOURCES:
        for path in sorted((root / name).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    stamp = digest.hexdigest()
    for cache in _cache_dirs(root):
        marker = cache / _STAMP
        try:
            if marker.read_text() == stamp:
                continue
        except OSError:
            pass
        try:
            cache.mkdir(parents=True, exist_ok=True)
            for stale in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
                stale.unlink(missing_ok=True)
            marker.write_text(stamp)
        except OSError:
            continue  # read-only install: Numba then compiles in memory
