"""Types whose members come from names defined elsewhere (config sections, the state's
accounts and counters, the kernel's parameter table), so each name list stays the one
definition. Type checkers see them as ``Any``."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from enum import IntEnum
from typing import Any

__all__ = ["index_enum", "record_type"]


def index_enum(name: str, names: Iterable[str], **extra: int) -> Any:
    """IntEnum ``name``: ``extra`` members first, then ``names`` upper-cased and numbered
    from 0. Its members are data, so type checkers see the class as ``Any``."""
    return IntEnum(name, {**extra, **{n.upper(): i for i, n in enumerate(names)}})


def record_type(name: str, fields: Iterable[str]) -> Any:
    """A namedtuple class ``name`` with ``fields`` (a record Numba can also take)."""
    return collections.namedtuple(name, list(fields))
