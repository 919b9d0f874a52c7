"""Every code block in the README and docs/ works as written.

Python blocks run in a fresh interpreter from the checkout (a leading comment
``# VAR=value python ...`` sets the environment it names); a block marked
``<!-- fragment: why -->`` on the line above its fence is a piece of a larger
program and is only compiled, its imports resolved. Shell blocks are parsed by the
real ``townlet`` command tree (every sub-command, option, choice and argument is
checked, nothing runs); YAML blocks load as config files (or sweep specs).
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import click
import pytest

from townlet.cli import main
from townlet.config import load_config
from townlet.scale.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?:<!-- (?P<mark>fragment[^>]*) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)^```",
                   re.DOTALL | re.MULTILINE)
SHELL = {"bash", "sh", "console"}
NOT_TOWNLET = {"export", "source", "python3", ".venv/bin/pip", ".venv/bin/python"}
"""Shell commands the docs may use besides ``townlet`` (setup and environment)."""
ENV_LINE = re.compile(r"^# ((?:\w+=\S+ )+)python")


class Block(NamedTuple):
    doc: str
    line: int
    lang: str
    body: str
    fragment: bool

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def _blocks() -> list[Block]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start("body"))
            found.append(Block(str(path.relative_to(ROOT)), line, m.group("lang"),
                               m.group("body"), m.group("mark") is not None))
    return found


BLOCKS = _blocks()


def _of(*langs: str) -> list[Block]:
    return [b for b in BLOCKS if b.lang in langs]


def _commands(block: Block) -> list[list[str]]:
    """Each command of a shell block as argv (continuations joined, comments and
    console output dropped, ``&&`` chains split)."""
    text = block.body.replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        if block.lang == "console":
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            commands.append(words[:cut])
            words = words[cut + 1:]
    return commands


def _parse(argv: list[str]) -> list[str]:
    """Parse ``townlet`` arguments with the real click tree; returns the command path."""
    command: click.Command = main
    name, ctx, path = "townlet", None, ["townlet"]
    args = list(argv)
    while True:
        ctx = command.make_context(name, args, parent=ctx)
        if not isinstance(command, click.Group):
            return path
        protected = getattr(ctx, "_protected_args", None)
        rest = [*(ctx.protected_args if protected is None else protected), *ctx.args]
        if not rest:
            return path
        name, sub, args = command.resolve_command(ctx, rest)
        assert name is not None and sub is not None
        command = sub
        path.append(name)


def test_the_docs_have_blocks_of_every_kind():
    langs = {b.lang for b in BLOCKS}
    assert {"python", "bash", "yaml"} <= langs
    assert len(_of("python")) >= 5 and any(b.fragment for b in BLOCKS)


@pytest.mark.parametrize("block", [b for b in _of("python") if not b.fragment], ids=str)
def test_python_block_runs(block):
    env = dict(os.environ)
    m = ENV_LINE.match(block.body)
    if m:
        env.update(pair.split("=", 1) for pair in m.group(1).split())
    proc = subprocess.run([sys.executable, "-c", block.body], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("block", _of("python"), ids=str)
def test_python_block_compiles_and_its_imports_exist(block):
    tree = ast.parse(block.body, filename=str(block))
    compile(tree, str(block), "exec")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            missing = [a.name for a in node.names
                       if not hasattr(module, a.name)
                       and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
            assert not missing, f"{block}: {node.module} has no {missing}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)


@pytest.mark.parametrize("block", _of(*SHELL), ids=str)
def test_shell_block_commands_parse(block):
    commands = _commands(block)
    assert commands, f"{block}: no command"
    for argv in commands:
        program = argv[0]
        if program in ("townlet", ".venv/bin/townlet"):
            try:
                _parse(argv[1:])
            except click.ClickException as exc:
                pytest.fail(f"{block}: `{shlex.join(argv)}`: {exc.format_message()}")
        else:
            assert program in NOT_TOWNLET, f"{block}: unknown command {program!r}"


def test_readme_activates_the_venv_before_bare_townlet_commands():
    for block in (b for b in _of(*SHELL) if b.doc == "README.md"):
        programs = [argv[0] for argv in _commands(block)]
        if "townlet" in programs:
            assert "source" in programs[:programs.index("townlet")], f"{block}"


@pytest.mark.parametrize("block", _of("yaml"), ids=str)
def test_yaml_block_is_a_valid_config_or_sweep_spec(block, tmp_path):
    """A block with top-level ``seeds:`` is a sweep spec (docs/scaling.md)."""
    path = tmp_path / "block.yaml"
    path.write_text(block.body)
    if re.search(r"^seeds:", block.body, re.MULTILINE):
        load_spec(path)
    else:
        load_config(path)
