"""Run one handler and turn every way it can end into a response: the one place where
errors become codes (CommandError, sandbox refusals, OS errors on paths, snapshot errors,
world errors, handler bugs)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeGuard

import msgspec
import numpy as np
import structlog

from townlet.console.context import CommandContext
from townlet.console.errors import CommandError, hide_root, path_error
from townlet.console.table import Command
from townlet.security.registry import RegistryError
from townlet.security.sandbox import ForbiddenPath
from townlet.snapshots.errors import (
    ConfigMismatchError,
    SnapshotError,
    SnapshotFormatError,
    SnapshotStateError,
)
from townlet.wire.console import ERROR_CODES, ErrorBody, Response

if TYPE_CHECKING:
    from townlet.world.errors import WorldError

__all__ = ["Outcome", "execute", "response_encoder"]

_log = structlog.get_logger("townlet.console")


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"cannot encode {type(obj).__name__}")


def response_encoder() -> msgspec.msgpack.Encoder:
    """The encoder of responses (handlers may return numpy scalars and arrays)."""
    return msgspec.msgpack.Encoder(enc_hook=_enc_hook)


class Outcome(msgspec.Struct):
    """The encoded response and its code (``OK`` or an error code) for the audit log."""

    payload: bytes
    code: str
    message: str | None


def _error(encoder: msgspec.msgpack.Encoder, cmd_id: str, code: str, message: str,
           tick: int | None) -> Outcome:
    resp = Response(cmd_id=cmd_id, ok=False, error=ErrorBody(code, message), tick=tick)
    return Outcome(encoder.encode(resp), code, message)


def _snapshot_message(exc: SnapshotError) -> str:
    """What a refused snapshot operation tells the operator (the code is E_INVALID_ARG:
    the named file is not acceptable; the message says why)."""
    if isinstance(exc, SnapshotFormatError):
        return f"not a valid snapshot (corrupt, truncated or modified): {exc}"
    if isinstance(exc, ConfigMismatchError):  # the console spelling of the CLI flag
        return str(exc).replace("--allow-config-mismatch", "allow_config_mismatch=true")
    if isinstance(exc, SnapshotStateError):
        return f"snapshot does not fit this world: {exc}"
    return str(exc)


def _is_world_error(exc: Exception) -> TypeGuard[WorldError]:
    """Whether ``exc`` is a :class:`townlet.world.errors.WorldError`. Looked up, not
    imported: importing it loads the world package and Numba, which the console front
    never needs, and no WorldError exists in a process that has not loaded its module."""
    errors = sys.modules.get("townlet.world.errors")
    return errors is not None and isinstance(exc, errors.WorldError)


def execute(cmd: Command, ctx: CommandContext, params: Any, cmd_id: str, tick: int | None,
            encoder: msgspec.msgpack.Encoder) -> Outcome:
    """Run ``cmd`` and encode its response; never raises for a handler failure."""
    try:
        result = cmd.run(ctx, params)
        payload = encoder.encode(Response(cmd_id=cmd_id, ok=True, result=result, tick=tick))
    except CommandError as exc:
        return _error(encoder, cmd_id, exc.code, exc.message, tick)
    except ForbiddenPath as exc:
        return _error(encoder, cmd_id, exc.code, str(exc), tick)
    except SnapshotError as exc:
        return _error(encoder, cmd_id, "E_INVALID_ARG",
                      hide_root(_snapshot_message(exc), ctx.sandbox), tick)
    except RegistryError as exc:
        return _error(encoder, cmd_id, "E_INTERNAL", f"key registry unusable: {exc}", tick)
    except OSError as exc:
        if exc.filename is None:
            return _failed(cmd, exc, cmd_id, tick, encoder)
        err = path_error(exc, ctx.sandbox)
        if err.code == "E_INTERNAL":
            _log.error("console_file_error", command=cmd.name, cmd_id=cmd_id,
                       error=err.message)
        return _error(encoder, cmd_id, err.code, err.message, tick)
    except Exception as exc:  # noqa: BLE001 - a handler bug must not stop the simulation or
        # the I/O thread; it becomes an explicit E_INTERNAL reply with the traceback logged
        if _is_world_error(exc):
            code = exc.code if exc.code in ERROR_CODES else "E_INVALID_ARG"
            return _error(encoder, cmd_id, code, str(exc), tick)
        return _failed(cmd, exc, cmd_id, tick, encoder)
    return Outcome(payload, "OK", None)


def _failed(cmd: Command, exc: Exception, cmd_id: str, tick: int | None,
            encoder: msgspec.msgpack.Encoder) -> Outcome:
    """A handler bug: logged with its traceback, answered E_INTERNAL (type name only)."""
    _log.error("console_command_failed", command=cmd.name, cmd_id=cmd_id, exc_info=exc)
    return _error(encoder, cmd_id, "E_INTERNAL", f"{cmd.name} failed: {type(exc).__name__}",
                  tick)
