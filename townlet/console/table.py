"""Command table machinery: the :class:`Command` row, table building and argument binding.

The table itself is :data:`townlet.console.commands.COMMANDS`. A row names the command, its minimum role and its handler. The handler's
annotations give the parameter Struct (``p: SpawnArgs``) and the result type;
its docstring's first line is the summary. ``docs/console.md`` is generated
from this table and a test checks it is current.

Roles (see :mod:`townlet.security.roles`): ``viewer`` reads, ``operator``
intervenes in the world and the run, ``admin`` may do everything, including
policy and file operations. Every command that changes state is flagged
``MUTATES`` (its results are replay-cached by cmd_id); every command that writes
files must be admin (checked when the table is built).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import msgspec
import msgspec.inspect

from townlet.console.errors import CommandError
from townlet.security.roles import ROLES

__all__ = ["LOCAL", "MUTATES", "WRITES_FILES", "Command", "bind", "build_table"]

LOCAL = "local"
"""Answered on the console's I/O thread without the world (works while the loop is busy)."""
MUTATES = "mutates"
"""Changes world or run state: replay-cached by cmd_id, audited as a change."""
WRITES_FILES = "writes_files"
"""Writes files under the snapshot root: admin only."""


class Command(msgspec.Struct, frozen=True):
    """One row of the table, with what was derived from its handler."""

    name: str
    role: str
    run: Callable[..., Any]
    params: type[msgspec.Struct]
    result: Any
    summary: str
    local: bool = False
    mutates: bool = False
    writes_files: bool = False
    names: tuple[str, ...] = ()
    """Parameter names in positional order (derived)."""
    required: tuple[str, ...] = ()
    """Parameters without a default (derived)."""

    def usage(self) -> str:
        """``name <required> [optional=default] ...`` from the parameter Struct."""
        parts = [self.name]
        for f in msgspec.structs.fields(self.params):
            if f.required:
                parts.append(f"<{f.name}>")
            else:
                parts.append(f"[{f.name}={f.default!r}]")
        return " ".join(parts)


def _row(name: str, role: str, run: Callable[..., Any], *flags: str) -> Command:
    hints = typing.get_type_hints(run)
    params = hints.get("p")
    if params is None or not (isinstance(params, type) and issubclass(params, msgspec.Struct)):
        raise TypeError(f"handler of {name!r} must annotate its parameters as `p: <Struct>`")
    if role not in ROLES:
        raise ValueError(f"command {name!r}: unknown role {role!r}")
    unknown = set(flags) - {LOCAL, MUTATES, WRITES_FILES}
    if unknown:
        raise ValueError(f"command {name!r}: unknown flags {sorted(unknown)}")
    if WRITES_FILES in flags and role != "admin":
        raise ValueError(f"command {name!r} writes files and must be admin-only")
    try:  # an unsupported parameter type fails here, at import, not on the I/O thread
        msgspec.inspect.type_info(params)
    except TypeError as exc:
        raise TypeError(f"command {name!r}: parameters {params.__name__}: {exc}") from None
    doc = (run.__doc__ or "").strip().splitlines()
    if not doc:
        raise ValueError(f"handler of {name!r} needs a docstring (its summary)")
    fields = msgspec.structs.fields(params)
    return Command(name=name, role=role, run=run, params=params, result=hints.get("return"),
                   summary=doc[0], local=LOCAL in flags, mutates=MUTATES in flags,
                   writes_files=WRITES_FILES in flags, names=tuple(f.name for f in fields),
                   required=tuple(f.name for f in fields if f.required))


def build_table(rows: list[tuple[Any, ...]]) -> dict[str, Command]:
    """Build the name -> :class:`Command` map; duplicate names raise."""
    table: dict[str, Command] = {}
    for row in rows:
        cmd = _row(*row)
        if cmd.name in table:
            raise ValueError(f"duplicate console command {cmd.name!r}")
        table[cmd.name] = cmd
    return table


def bind(cmd: Command, args: list[Any], kwargs: dict[str, Any]) -> msgspec.Struct:
    """Bind positional and named arguments to the command's parameter Struct.

    Raises :class:`CommandError` ``E_USAGE`` for a missing or extra argument and
    ``E_INVALID_ARG`` (naming the argument) for a wrong type or range.
    """
    names = cmd.names
    if len(args) > len(names):
        raise CommandError("E_USAGE", f"{cmd.name} takes at most {len(names)} positional "
                           f"argument(s), got {len(args)}; usage: {cmd.usage()}")
    data = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise CommandError("E_USAGE", f"{cmd.name} has no argument {key!r}; "
                               f"usage: {cmd.usage()}")
        if key in data:
            raise CommandError("E_USAGE", f"{cmd.name}: argument {key!r} given twice")
        data[key] = value
    missing = [n for n in cmd.required if n not in data]
    if missing:
        raise CommandError("E_USAGE", f"{cmd.name}: missing argument {missing[0]!r}; "
                           f"usage: {cmd.usage()}")
    try:
        return msgspec.convert(data, cmd.params)
    except msgspec.ValidationError as exc:
        text = str(exc).replace("`$.", "`").replace("`", "'")
        raise CommandError("E_INVALID_ARG", f"{cmd.name}: {text}") from None
