"""The operator's side of ``townlet console``: argument parsing, output formatting, the REPL."""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import msgspec

__all__ = ["Completer", "format_result", "parse_tokens", "run_repl"]

_KW = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


def _value(text: str) -> Any:
    """JSON if it parses (numbers, true/false/null, lists, quoted strings), else the text."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def parse_tokens(tokens: list[str] | tuple[str, ...]) -> tuple[list[Any], dict[str, Any]]:
    """``["5", "x=3", "name=bob"]`` -> ``([5], {"x": 3, "name": "bob"})``."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for tok in tokens:
        m = _KW.match(tok)
        if m:
            kwargs[m.group(1)] = _value(m.group(2))
        else:
            args.append(_value(tok))
    return args, kwargs


def format_result(result: Any) -> str:
    """Human-readable JSON of a result."""
    return msgspec.json.format(msgspec.json.encode(result), indent=2).decode()


class Completer:
    """readline completer over command names (from the server's ``help``)."""

    def __init__(self, names: list[str]) -> None:
        self.names = sorted(set(names) | {"quit", "exit"})
        self._matches: list[str] = []

    def __call__(self, text: str, state: int) -> str | None:
        if state == 0:
            self._matches = [n for n in self.names if n.startswith(text)]
        return self._matches[state] if state < len(self._matches) else None


def run_repl(execute: Callable[[str, list[Any], dict[str, Any]], None],
             names: list[str], history: Path, stdin: TextIO = sys.stdin,
             stdout: TextIO = sys.stdout) -> None:
    """Read ``command args...`` lines until EOF or ``quit``; ``execute`` runs each one.

    History is kept in ``history`` (created 0600); Tab completes command names.
    """
    try:
        import readline
    except ImportError:  # platforms without GNU readline: no history or completion
        readline = None  # type: ignore[assignment]
    interactive = stdin.isatty()
    if readline is not None:
        readline.set_completer(Completer(names))
        readline.set_completer_delims(" \t\n")
        readline.parse_and_bind("tab: complete")
        if history.exists():
            readline.read_history_file(history)
    try:
        while True:
            if interactive:
                try:
                    line = input("townlet> ")
                except EOFError:
                    break
            else:
                raw = stdin.readline()
                if not raw:
                    break
                line = raw.rstrip("\n")
                if readline is not None and line.strip():
                    readline.add_history(line)
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line in ("quit", "exit"):
                break
            try:
                tokens = shlex.split(line)
            except ValueError as exc:
                print(f"parse error: {exc}", file=stdout)
                continue
            args, kwargs = parse_tokens(tokens[1:])
            execute(tokens[0], args, kwargs)
    finally:
        if readline is not None:
            history.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(history)
            os.chmod(history, 0o600)
