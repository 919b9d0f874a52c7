"""The precondition language of affordances, parsed once at config load.

A precondition is one comparison ``<variable> <op> <literal>``; several may be
joined with ``and`` (a list of strings is an ``and`` of its items). Variables:

======================  ===================================================
``agent.food``          food items the agent carries
``agent.wallet``        the agent's money
``agent.<need>``        one of the agent's needs (hunger, hygiene, ...)
``stock``               the object's stock (shops)
``power_on``            the object's district has power (true/false)
``water_on``            the object's district has water (true/false)
``queue_length``        agents waiting for the object
======================  ===================================================

Anything else (calls, arithmetic, ``or``, unknown names) is rejected with a
message that names the offending part; nothing is ever evaluated by Python.
A text longer than :data:`MAX_PRECOND_CHARS` is refused before it is parsed, so
no input can drive the parser or the checks below into deep recursion.
"""

from __future__ import annotations

import ast

from townlet.config.world import NEEDS

__all__ = ["COMPARISONS", "MAX_PRECOND_CHARS", "VARIABLES", "Condition", "PrecondError",
           "parse_preconds"]

VARIABLES = ("agent.food", "agent.wallet", "stock", "power_on", "water_on", "queue_length")
NEED_VARIABLES = tuple(f"agent.{need}" for need in NEEDS)
COMPARISONS = {ast.Eq: 0, ast.NotEq: 1, ast.Lt: 2, ast.LtE: 3, ast.Gt: 4, ast.GtE: 5}
MAX_PRECOND_CHARS = 200
"""Longest precondition text accepted; a comparison chain of this length nests
at most ~100 levels, far inside Python's parser and recursion limits."""

Condition = tuple[str, int, float]
"""(variable name, comparison code, literal) — the kernel's compiled form."""


class PrecondError(ValueError):
    """A precondition outside the grammar."""


def _name(node: ast.expr, text: str) -> str:
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        name = f"{node.value.id}.{node.attr}"
    else:
        raise PrecondError(f"{text!r}: left side must be a variable, got {ast.unparse(node)!r}")
    if name not in VARIABLES + NEED_VARIABLES:
        known = ", ".join(VARIABLES + NEED_VARIABLES)
        raise PrecondError(f"{text!r}: unknown variable {name!r} (known: {known})")
    return name


def _literal(node: ast.expr, text: str) -> float:
    if isinstance(node, ast.Name) and node.id.lower() in ("true", "false"):
        return 1.0 if node.id.lower() == "true" else 0.0
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1.0, node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float)):
        return sign * float(node.value)
    raise PrecondError(f"{text!r}: right side must be a number or true/false, "
                       f"got {ast.unparse(node)!r}")


def _compare(node: ast.expr, text: str) -> list[Condition]:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return [c for value in node.values for c in _compare(value, text)]
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = COMPARISONS.get(type(node.ops[0]))
        if op is None:
            raise PrecondError(f"{text!r}: unsupported comparison {type(node.ops[0]).__name__}")
        return [(_name(node.left, text), op, _literal(node.comparators[0], text))]
    raise PrecondError(f"{text!r}: expected 'variable <op> literal' joined by 'and', "
                       f"got {type(node).__name__}")


def parse_preconds(texts: list[str]) -> list[Condition]:
    """Parse precondition strings into conditions, or raise :class:`PrecondError`."""
    conditions: list[Condition] = []
    for text in texts:
        if len(text) > MAX_PRECOND_CHARS:
            raise PrecondError(f"{text[:40]!r}...: {len(text):,} characters, the limit is "
                               f"{MAX_PRECOND_CHARS}")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise PrecondError(f"{text!r}: syntax error ({exc.msg})") from None
        conditions.extend(_compare(tree.body, text))
    return conditions
