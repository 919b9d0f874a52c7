"""Keep Numba's on-disk cache consistent with the kernel's sources, by construction.

Numba checks a cached function against its own file only, so after editing a
helper module (say ``events.py``) the cached ``tick`` in ``kernel.py`` would still
run the old helper. Instead of purging files, townlet's kernels are cached in a
directory named after a *fingerprint*: a hash of every townlet source the
compiled packages (``world``, ``rl``) import, directly or not, plus the Python
and Numba versions. Any edit gives a new directory and one fresh compile; an
unchanged tree reuses the directory of its last run. Only the :data:`KEEP` most
recently used fingerprint directories are kept.

:func:`install` puts a Numba cache locator in front of Numba's own for files of
this package; it must run before any kernel function is decorated, which is why
the ``world`` and ``rl`` package ``__init__`` modules call it first.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["KEEP", "cache_root", "fingerprint", "install", "kernel_cached", "kernel_sources",
           "prune"]

KEEP = 3
"""Fingerprint directories kept (the current one and the most recently used others)."""
_COMPILED = ("world", "rl")
_PACKAGE = Path(__file__).resolve().parent.parent
_FINGERPRINT_CHARS = 16


def _module_files(name: str) -> list[Path]:
    """Source files executed by importing townlet module ``name`` (its packages' too)."""
    parts = name.split(".")[1:]
    files = []
    for depth in range(len(parts) + 1):
        base = _PACKAGE.joinpath(*parts[:depth])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                files.append(candidate)
    return files


_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+(townlet[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)"
                     rb"|import[ \t]+(townlet[\w.]*))", re.MULTILINE)
"""Import statements naming townlet modules (a regex: ~10x faster than parsing, and
an extra match, say in a docstring, only adds a file to the fingerprint)."""


def _imported(path: Path) -> set[str]:
    """Names of the townlet modules (and candidate submodules) a source file imports."""
    names: set[str] = set()
    for module, what, plain in _IMPORT.findall(path.read_bytes()):
        if plain:
            names.add(plain.decode())
            continue
        names.add(module.decode())
        for item in re.sub(rb"#[^\n]*", b"", what).strip(b"()").split(b","):
            if item.split():
                names.add(f"{module.decode()}.{item.split()[0].decode()}")
    return names


def kernel_sources() -> list[Path]:
    """Every townlet source the compiled packages import, directly or not (sorted)."""
    todo = [p for name in _COMPILED for p in (_PACKAGE / name).glob("*.py")]
    seen = {Path(__file__).resolve()}  # this module compiles nothing
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported(path):
            todo.extend(_module_files(name))
    return sorted(seen - {Path(__file__).resolve()})


def fingerprint() -> str:
    """Hash of the kernel sources (paths and contents), Python and Numba versions."""
    import numba

    digest = hashlib.sha256(f"{sys.version}|{numba.__version__}".encode())
    for path in kernel_sources():
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:_FINGERPRINT_CHARS]


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


def cache_root() -> Path | None:
    """Where fingerprint directories live: under ``NUMBA_CACHE_DIR`` if set, else the
    package's ``__pycache__``, else the user cache, else the temp directory."""
    from numba.core import config

    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    candidates = ([Path(config.CACHE_DIR) / "townlet-kernels"] if config.CACHE_DIR else []) + [
        _PACKAGE / "__pycache__" / "kernels",
        user / "townlet" / "kernels",
        Path(tempfile.gettempdir()) / f"townlet-kernels-{os.getuid()}",
    ]
    return next((c for c in candidates if _writable(c)), None)


def prune(root: Path, current: str, keep: int = KEEP) -> list[Path]:
    """Remove all but the ``keep`` most recently used fingerprint directories in ``root``
    (never ``current``); returns what was removed."""
    dirs = [d for d in root.iterdir()
            if d.is_dir() and len(d.name) == _FINGERPRINT_CHARS and d.name != current]
    dirs.sort(key=lambda d: d.stat().st_mtime, reverse=True)
    stale = dirs[max(0, keep - 1):]
    for d in stale:
        shutil.rmtree(d, ignore_errors=True)
    return stale


def install() -> Path | None:
    """Cache this package's kernels under the current fingerprint (idempotent);
    returns the directory, or None when no candidate directory is writable (then
    Numba's own locators are left to decide, as without townlet)."""
    from numba.core import caching
    from numba.core.caching import _CacheLocator, _SourceFileBackedLocatorMixin

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in numba 0.68
    installed = next((c for c in impl._locator_classes if c.__name__ == "_KernelLocator"), None)
    if installed is not None:
        return installed.directory
    root = cache_root()
    directory = None
    if root is not None:
        current = fingerprint()
        directory = root / current
        directory.mkdir(exist_ok=True)
        os.utime(directory)  # mark as most recently used
        prune(root, current)

    class _KernelLocator(_SourceFileBackedLocatorMixin, _CacheLocator):
        """Locates the cache of a function defined in this package under ``directory``."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            # one subdirectory per package: world/events.py and rl/events.py coexist
            self._cache_path = os.fspath(directory / Path(py_file).parent.name)

        def get_cache_path(self):
            return self._cache_path

        @classmethod
        def from_function(cls, py_func, py_file):
            if directory is None or not Path(py_file).resolve().is_relative_to(_PACKAGE):
                return None
            return super().from_function(py_func, py_file)

    _KernelLocator.directory = directory
    impl._locator_classes.insert(0, _KernelLocator)
    return directory


def kernel_cached() -> bool:
    """Whether the tick is compiled under the current fingerprint (else the run compiles it)."""
    directory = install()
    return directory is not None and any((directory / "world").glob("kernel.tick-*.nbi"))
