"""Facts are written once: a scan of the package source for copies that must not reappear.

Each world fact (flag bits, action and tile codes, need/price/object/perturbation
names, feature offsets, counts) has one defining module; everything else imports
it or derives from it. These checks read the source with ``ast`` (not regexes), so
comments, docstrings and formatting do not matter.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import pytest

from townlet.config.invariants import HOOKS
from townlet.config.world import NEEDS, OBJECT_TYPES, PERTURBATION_KINDS, PRICES
from townlet.world.actions import Action, Flag, Goal, Shift
from townlet.world.events import EventCode
from townlet.world.geometry import TILE
from townlet.world.town import BLD, OBJ

PACKAGE = Path(__file__).resolve().parent.parent / "townlet"
SOURCES = {p.relative_to(PACKAGE).as_posix(): ast.parse(p.read_text(encoding="utf-8"))
           for p in sorted(PACKAGE.rglob("*.py"))}

ENUMS = {"world/actions.py": (Action, Flag, Goal, Shift), "world/geometry.py": (TILE,),
         "world/town.py": (BLD, OBJ)}
"""Enums whose members compiled code must use by name, by defining module."""
PREFIXES = ("", "F_", "FLAG_", "A_", "T_", "TILE_", "OBJ_", "BLD_", "G_", "S_")
"""Prefixes a hand-written copy of a member would carry (``F_POSSESSED = 1``)."""
NAME_LISTS = {"need": (NEEDS, "config/world.py"), "price": (PRICES, "config/world.py"),
              "object type": (OBJECT_TYPES, "config/world.py"),
              "perturbation kind": (PERTURBATION_KINDS, "config/world.py"),
              "hook": (HOOKS, "config/invariants.py"),
              "goal": (tuple(g.name.lower() for g in Goal), "world/actions.py"),
              "shift state": (tuple(s.name.lower() for s in Shift), "world/actions.py"),
              "event code": (tuple(c.name.lower() for c in EventCode), "world/events.py")}
"""Name tuples and their defining module: no other module lists their members (clients
that cannot import the world read goals, shifts and events from the frame schema's
vocabulary)."""
FEATURE_ROWS = {"f", "out_feat", "row"}
"""Names the RL encoder gives a feature row; its indices come from the layout."""


def _numeric_constants(tree: ast.Module):
    """(name, value) of every module-level ``NAME = <number>`` (tuples unpacked)."""
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        names = target.elts if isinstance(target, ast.Tuple) else [target]
        values = value.elts if isinstance(value, ast.Tuple) else [value]
        if len(names) != len(values):
            continue
        for name, val in zip(names, values):
            if isinstance(val, ast.UnaryOp) and isinstance(val.op, ast.USub):
                val = val.operand
            if isinstance(name, ast.Name) and isinstance(val, ast.Constant) \
                    and type(val.value) in (int, float):
                yield name.id, val.value


def test_each_numeric_constant_is_defined_in_one_module():
    where = collections.defaultdict(list)
    for path, tree in SOURCES.items():
        for name, _ in _numeric_constants(tree):
            where[name].append(path)
    copies = {name: paths for name, paths in where.items() if len(set(paths)) > 1}
    assert not copies, f"constants written in several modules (import them instead): {copies}"


def test_no_hand_written_enum_members():
    members = {}
    for home, enums in ENUMS.items():
        for enum in enums:
            for name in enum.__members__:
                members[name] = (home, enum.__name__)
    found = []
    for path, tree in SOURCES.items():
        for name, value in _numeric_constants(tree):
            for prefix in PREFIXES:
                member = name[len(prefix):] if name.startswith(prefix) else None
                if member in members and members[member][0] != path:
                    found.append(f"{path}: {name} = {value} copies "
                                 f"{members[member][1]}.{member}")
    assert not found, "\n".join(found)


def test_counts_are_derived_not_written():
    found = [f"{path}: {name} = {value}" for path, tree in SOURCES.items()
             for name, value in _numeric_constants(tree) if name.startswith("N_")]
    assert not found, "counts must be len(...) of what they count:\n" + "\n".join(found)


def test_encoder_indexes_features_by_name():
    found = []
    for path, tree in SOURCES.items():
        if not path.startswith("rl/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                    and node.value.id in FEATURE_ROWS:
                literals = [n.value for n in ast.walk(node.slice)
                            if isinstance(n, ast.Constant) and isinstance(n.value, int)]
                if literals:
                    found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "feature offsets must come from townlet.rl.layout:\n" + "\n".join(found)


def _defines_another(path: str, items: set, kind: str) -> bool:
    """``items`` is the whole of another fact defined in ``path`` (the affordance hooks are
    named like the events they raise, but are their own fact)."""
    return any(home == path and items == set(names) for other, (names, home)
               in NAME_LISTS.items() if other != kind)


@pytest.mark.parametrize("kind", list(NAME_LISTS))
def test_name_lists_are_not_copied(kind):
    names, home = set(NAME_LISTS[kind][0]), NAME_LISTS[kind][1]
    found = []
    for path, tree in SOURCES.items():
        if path == home:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2:
                items = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if len(items) == len(node.elts) and set(items) <= names \
                        and not _defines_another(path, set(items), kind):
                    found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    assert not found, f"{kind} names listed again (import them from townlet/{home}):\n" \
        + "\n".join(found)


def test_the_scan_reads_the_package():
    """Guard against a scan that silently reads nothing."""
    assert {"rl/encode.py", "world/geometry.py", "config/world.py"} <= set(SOURCES)
    assert ("PERIOD", 8) in set(_numeric_constants(SOURCES["world/geometry.py"]))
    copy = ast.parse("F_POSSESSED, F_FAINTED = 1, -2\nN_SELF = 69\n")
    assert dict(_numeric_constants(copy)) == {"F_POSSESSED": 1, "F_FAINTED": 2, "N_SELF": 69}
