"""The agents table's query: filter and sort living agents, return only the rows shown.

A filter is space-separated ``field<op>value`` terms (``hunger<0.3 job=2 wallet>=5
goal=work shift=late``); fields are the needs, ``wallet`` (units of money), ``job``,
``goal``, ``action``, ``shift``, ``x``, ``y``, ``food`` and ``agent``. Relationship
terms ``rel=<kind>`` (holds such a tie: ``friend``, ``rival``, ``tie``),
``rel=<kind>@<agent>`` (with that agent) and ``rel!=...`` (does not) are not in frames:
the caller fetches one bitmap per term from the console's ``related`` and passes them
in. Sorting uses ``argpartition`` for the first ``limit`` rows, so a table over 1M
agents costs a few vectorised passes and never builds a million Python rows.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from townlet.config.money import to_units
from townlet.config.world import NEEDS
from townlet.ui.vocab import Names

__all__ = ["FIELDS", "QueryError", "RelTerm", "Row", "agent_rows", "columns", "parse_filter",
           "rel_terms"]

FIELDS = ("agent", *NEEDS, "wallet", "job", "goal", "action", "shift", "x", "y", "food")
"""Columns of the table, also the names filters and sorting accept."""
_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<=": operator.le, ">=": operator.ge, "!=": operator.ne, "<": operator.lt,
    ">": operator.gt, "=": operator.eq}
_TERM = re.compile(r"^([a-z_]+)(<=|>=|!=|<|>|=)(.+)$")
_REL = re.compile(r"^rel(!?=)([a-z_]+)(?:@(\d+))?$")
_NAMED = {"goal": "agent_goal", "shift": "agent_shift", "action": "agent_action"}
"""Fields whose values the stream names (the vocabulary column naming them)."""


class QueryError(ValueError):
    """A filter term the table cannot apply (the message says which and why)."""


@dataclass(frozen=True)
class RelTerm:
    """A relationship term: agents that hold (or, ``negate``, do not hold) a ``kind`` tie,
    with ``with_agent`` if given."""

    kind: str
    with_agent: int | None
    negate: bool

    @property
    def key(self) -> tuple[str, int | None]:
        """What to ask the console (``related kind with_agent``)."""
        return self.kind, self.with_agent


@dataclass(frozen=True)
class Row:
    agent: int
    values: tuple[float, ...]
    """One value per FIELDS entry after ``agent``."""


def columns(cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every table field as one array over all slots (views where possible)."""
    n = cols["agent_alive"].size
    out: dict[str, np.ndarray] = {"agent": np.arange(n)}
    for k, name in enumerate(NEEDS):
        out[name] = cols["agent_needs"][:, k]
    out["wallet"] = to_units(cols["agent_wallet"])
    for name, src in (("job", "agent_job"), ("goal", "agent_goal"), ("action", "agent_action"),
                      ("shift", "agent_shift"), ("x", "agent_x"), ("y", "agent_y"),
                      ("food", "agent_food")):
        out[name] = cols[src]
    return out


def parse_filter(text: str, names: Names | None = None,
                 ) -> list[tuple[str, Callable[[np.ndarray, float], np.ndarray], float]]:
    """``[(field, op, value)]`` from a filter string (``goal=work``: codes named by
    ``names``); QueryError on a bad term."""
    names = names or Names()
    terms = []
    for word in text.split():
        if word.startswith("rel"):
            continue  # rel_terms()
        m = _TERM.match(word)
        if m is None:
            raise QueryError(f"bad filter term {word!r}: use field<op>value, e.g. hunger<0.3")
        name, op, raw = m.groups()
        if name not in FIELDS:
            raise QueryError(f"unknown field {name!r}; fields: {', '.join(FIELDS)}")
        code = names.code(_NAMED[name], raw) if name in _NAMED else None
        if code is not None:
            value = float(code)
        else:
            try:
                value = float(raw)
            except ValueError:
                named = [n for n in names.names(_NAMED.get(name, "")) if n]
                hint = f" or one of {', '.join(named)}" if named else ""
                raise QueryError(f"{name} wants a number{hint}, got {raw!r}") from None
        terms.append((name, _OPS[op], value))
    return terms


def rel_terms(text: str) -> list[RelTerm]:
    """The relationship terms of a filter string; QueryError on a malformed one."""
    out = []
    for word in text.split():
        if not word.startswith("rel"):
            continue
        m = _REL.match(word)
        if m is None:
            raise QueryError(f"bad relationship term {word!r}: use rel=<kind>, "
                             "rel=<kind>@<agent> or rel!=<kind>, e.g. rel=rival")
        op, kind, other = m.groups()
        out.append(RelTerm(kind, int(other) if other else None, op == "!="))
    return out


def agent_rows(cols: Mapping[str, np.ndarray], filter_text: str = "", sort: str = "agent",
               descending: bool = False, limit: int = 200,
               related: Mapping[tuple[str, int | None], np.ndarray] | None = None,
               names: Names | None = None) -> tuple[int, list[Row]]:
    """(living agents matching, the first ``limit`` rows in sort order). ``related`` maps
    each relationship term's key to its bitmap (one bool per slot) from the console."""
    if sort not in FIELDS:
        raise QueryError(f"cannot sort by {sort!r}; fields: {', '.join(FIELDS)}")
    table = columns(cols)
    mask = cols["agent_alive"] != 0
    for name, op, value in parse_filter(filter_text, names):
        mask &= op(table[name], value)
    for term in rel_terms(filter_text):
        hit = (related or {}).get(term.key)
        if hit is None or hit.shape != mask.shape:
            raise QueryError(f"no answer from the console for rel={term.kind} yet")
        mask &= ~hit if term.negate else hit
    idx = np.flatnonzero(mask)
    key = table[sort][idx].astype(np.float64)
    if descending:
        key = -key
    if idx.size > limit:
        part = np.argpartition(key, limit - 1)[:limit]
        idx, key = idx[part], key[part]
    order = np.lexsort((idx, key))
    idx = idx[order]
    values = np.stack([table[f][idx].astype(np.float64) for f in FIELDS[1:]], axis=1)
    rows = [Row(a, tuple(v)) for a, v in zip(idx.tolist(), values.tolist(), strict=True)]
    return int(np.count_nonzero(mask)), rows
