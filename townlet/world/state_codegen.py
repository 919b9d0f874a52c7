"""Writes ``townlet/world/state_tuple.py``: the state table as a typed ``NamedTuple``.

``FIELDS`` (townlet/world/state.py) is the one definition of the state; this
module renders it as a class that type checkers and IDEs can read (one typed,
documented attribute per field). Run ``python -m townlet.world.state_codegen``
after changing ``FIELDS``; a test fails while the file is stale, and so does
``allocate()``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from townlet.world.state import FIELDS

__all__ = ["TARGET", "render"]

TARGET = Path(__file__).with_name("state_tuple.py")

_HEAD = '''"""The world's state arrays as a typed NamedTuple (the Python-side handle).

GENERATED from ``townlet.world.state.FIELDS`` by ``python -m townlet.world.state_codegen``;
edit FIELDS and regenerate, never this file. Dimensions: N agents, K ties, W
attendance window, M objects, B buildings, D districts, H x X tiles, E events,
S perturbation specs; numbers are fixed sizes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["State"]


class State(NamedTuple):
    """All state arrays by name; the compiled kernel sees them as a ``KernelState``."""
'''


def render() -> str:
    """The source text of state_tuple.py for the current ``FIELDS``."""
    lines = [_HEAD]
    for f in FIELDS:
        scalar = np.dtype(f.dtype).type.__name__
        dims = ", ".join(str(d) for d in f.dims)
        lines.append(f"    {f.name}: NDArray[np.{scalar}]")
        doc = textwrap.wrap(f"({dims}) {f.doc}", 88)
        lines.append('    """' + "\n    ".join(doc) + '"""')
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
