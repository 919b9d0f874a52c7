"""Names of the coded values frames carry (goals, shift states, actions, counters, event
codes), as the stream itself states them.

The world defines these names (its enums and counter list); the dashboard must not
import the world (it would load numba), so they travel in the frame schema's
``vocab`` (schema 2.2+, built by ``townlet.world.state.frame_vocab``) and the UI keeps
no copy. A stream without a vocabulary (2.1) shows the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["Names"]


class Names:
    """Look-ups in one schema's vocabulary (column -> names, index = code)."""

    __slots__ = ("_by_column",)

    def __init__(self, vocab: Mapping[str, Sequence[str]] | None = None) -> None:
        self._by_column = {col: tuple(names) for col, names in (vocab or {}).items()}

    def names(self, column: str) -> tuple[str, ...]:
        """Every name of ``column``'s codes ("" for an unused code; () when unknown)."""
        return self._by_column.get(column, ())

    def of(self, column: str, code: int) -> str:
        """The name of ``code`` in ``column``, or the number itself when it has none."""
        names = self.names(column)
        return names[code] if 0 <= code < len(names) and names[code] else str(code)

    def code(self, column: str, name: str) -> int | None:
        """The code named ``name`` in ``column`` (None when the stream names no such code)."""
        names = self.names(column)
        return names.index(name) if name and name in names else None
