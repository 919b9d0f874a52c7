"""Console envelopes on the wire: one request type, one response type, one code set.

A client (ZeroMQ DEALER, CURVE) sends one single-frame msgpack message per
request and receives one single-frame msgpack response per request, matched by
``cmd_id``. Both structs are msgpack *maps* so other languages can decode them
by field name. These definitions are shared by the server, the client and the
docs (docs/console.md is generated from them and the command table).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta, Struct

__all__ = [
    "ERROR_CODES",
    "MAX_ARGS",
    "MAX_KWARGS",
    "CmdId",
    "ErrorBody",
    "Request",
    "Response",
    "decode_request",
    "decode_response",
    "encode",
    "salvage_cmd_id",
]

MAX_ARGS: Final = 16
MAX_KWARGS: Final = 32

CmdId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
"""Client-chosen request id (idempotency key): 1-64 of ``A-Z a-z 0-9 _ . : -``."""


class Request(Struct, forbid_unknown_fields=True):
    """``{cmd_id, name, args, kwargs}``: run command ``name`` with these arguments."""

    cmd_id: CmdId
    """Idempotency key; repeating it for a state-changing command returns the first result."""
    name: Annotated[str, Meta(min_length=1, max_length=64)]
    """Command name (see ``help``)."""
    args: Annotated[list[Any], Meta(max_length=MAX_ARGS)] = []
    """Positional arguments, bound to the command's parameters in order."""
    kwargs: Annotated[dict[str, Any], Meta(max_length=MAX_KWARGS)] = {}
    """Named arguments."""


class ErrorBody(Struct):
    """Why a request failed: a code from :data:`ERROR_CODES` and a human message."""

    code: str
    """One of the error codes below."""
    message: str
    """What went wrong, for a human."""


class Response(Struct):
    """``{cmd_id, ok, result | error, tick}``; ``tick`` is when the command ran (None if it
    never reached the simulation)."""

    cmd_id: str
    """The request's cmd_id (empty when the request was too broken to read one)."""
    ok: bool
    """True: ``result`` holds the command's result; false: ``error`` says why."""
    result: Any = None
    """The command's result (a map or list; see each command)."""
    error: ErrorBody | None = None
    """``{code, message}`` when ``ok`` is false."""
    tick: int | None = None
    """Tick at which the command ran; null when it was answered without the simulation."""


#: The closed set of error codes and what each means (docs are generated from this).
ERROR_CODES: Final[dict[str, str]] = {
    "E_USAGE": "Malformed request: not msgpack, wrong envelope types, more than one frame, "
               "or a required argument missing.",
    "E_TOO_LARGE": "The request is larger than the server's max_request_bytes.",
    "E_UNSUPPORTED": "Unknown command name (see `help`).",
    "E_INVALID_ARG": "An argument has the wrong type, is out of range or is not accepted "
                     "by the world (including a snapshot file that is corrupt, truncated, "
                     "modified, from another config or out of range, a file that exists, "
                     "a name that is too long, or a directory where a file is needed).",
    "E_NOT_FOUND": "The referenced agent, object, event or file does not exist.",
    "E_BUSY_TARGET": "The target is in a state that does not allow this now.",
    "E_BLOCKED_TILE": "The destination tile is a wall or otherwise not walkable.",
    "E_ALREADY_POSSESSED": "The agent is already possessed by an operator.",
    "E_CONFLICT": "This cmd_id was already used for a different command or arguments.",
    "E_UNAUTHORIZED": "The connection's key is no longer valid (revoked or expired).",
    "E_FORBIDDEN": "Your role may not run this command.",
    "E_FORBIDDEN_PATH": "A path argument is absolute, escapes the snapshot root, "
                        "contains NUL or is not UTF-8, or the server may not access it "
                        "(permission denied, symlink loop).",
    "E_RATE_LIMITED": "Too many requests from your identity; retry after the given delay.",
    "E_BUSY": "The server's request queue is full; retry shortly.",
    "E_INTERNAL": "The command failed unexpectedly (logged on the server).",
}

_encoder = msgspec.msgpack.Encoder()
_request_decoder = msgspec.msgpack.Decoder(Request)
_response_decoder = msgspec.msgpack.Decoder(Response)


_CMD_ID_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


class _CmdIdOnly(Struct):
    cmd_id: str = ""


_cmd_id_decoder = msgspec.msgpack.Decoder(_CmdIdOnly)


def encode(msg: Request | Response) -> bytes:
    """Encode a request or response as msgpack."""
    return _encoder.encode(msg)


def decode_request(data: bytes | memoryview) -> Request:
    """Decode a request.

    Raises ``msgspec.ValidationError`` (wrong envelope; the message names the path)
    or ``msgspec.DecodeError`` (not msgpack, invalid UTF-8, absurd nesting).
    """
    try:
        return _request_decoder.decode(data)
    except UnicodeDecodeError:
        raise msgspec.DecodeError("MessagePack data is malformed: invalid UTF-8 text") from None
    except RecursionError:
        raise msgspec.DecodeError("MessagePack data is nested too deeply") from None


def salvage_cmd_id(data: bytes | memoryview) -> str:
    """Best-effort ``cmd_id`` of an invalid request, so its error reply can echo it."""
    try:
        cid = _cmd_id_decoder.decode(data).cmd_id
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return ""
    return cid if _CMD_ID_RE.fullmatch(cid) else ""


def decode_response(data: bytes | memoryview) -> Response:
    """Decode a response (raises ``msgspec.DecodeError``/``ValidationError``)."""
    try:
        return _response_decoder.decode(data)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise msgspec.DecodeError(f"MessagePack data is malformed: {exc}") from None
