"""The package layers of docs/architecture.md are import-linter contracts: the table
and the contracts say the same thing, `lint-imports` keeps them, and the consumer
side (client, wire, publisher) really loads neither the world nor numba."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p.parent.name for p in (ROOT / "townlet").glob("*/__init__.py"))
ROW = re.compile(r"^\| `townlet\.(\w+)` \|[^|]*\|([^|]*)\|([^|]*)\|$")


def _table() -> dict[str, tuple[set[str], set[str]]]:
    """package -> (townlet packages it may import, externals it never imports)."""
    rows = {}
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        m = ROW.match(line.strip())
        if m:
            may = set(re.findall(r"`(\w+)`", m.group(2)))
            never = set(re.findall(r"`(\w+)`", m.group(3)))
            rows[m.group(1)] = (may, never)
    return rows


def _contracts() -> dict[str, dict]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["id"]: c for c in doc["tool"]["importlinter"]["contracts"]}


def test_every_package_has_a_row_and_a_contract():
    assert sorted(_table()) == PACKAGES
    assert sorted(_contracts()) == PACKAGES


@pytest.mark.parametrize("package", PACKAGES)
def test_contract_forbids_exactly_what_the_table_does_not_allow(package):
    may, never = _table()[package]
    contract = _contracts()[package]
    assert contract["type"] == "forbidden"
    assert contract["source_modules"] == [f"townlet.{package}"]
    assert may <= set(PACKAGES) - {package}, f"unknown package in {package}'s row"
    want = {f"townlet.{p}" for p in set(PACKAGES) - may - {package}} | never
    assert set(contract["forbidden_modules"]) == want


def test_lint_imports_keeps_every_contract():
    pytest.importorskip("importlinter", reason="needs the dev extra")
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Contracts: {len(PACKAGES)} kept, 0 broken." in proc.stdout


CONSUMER = """
import sys
import msgspec
import townlet.cli  # `townlet publish`, `townlet subscribe`, ... run through it
from townlet.client import ConsoleClient, Subscriber
from townlet.client.repl import parse_tokens
from townlet.frames.schema import FrameSchema
from townlet.publish import server
from townlet.wire import codec, console, messages
# the console's shared modules the front imports (its command modules still load the world)
import townlet.console.cmd_snapshots, townlet.console.context, townlet.console.execute
import townlet.promotion.manager

doc = {"version": messages.SCHEMA_VERSION, "columns": [["tick", "<i8", [1]]], "events": []}
schema = FrameSchema.from_json(msgspec.json.encode(doc))
assert schema.fixed_nbytes > 0 and parse_tokens(["x=1"]) == ([], {"x": 1})
loaded = sorted(m for m in sys.modules if m == "numba" or m.startswith("townlet.world"))
print(",".join(loaded))
"""


def test_consumers_load_neither_the_world_nor_numba():
    proc = subprocess.run([sys.executable, "-c", CONSUMER], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
