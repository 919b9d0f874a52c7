"""Request envelope decoding (fuzzed), argument binding, client error types, CLI parsing."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import Meta

from townlet.client.errors import ERROR_TYPES
from townlet.client.repl import Completer, parse_tokens
from townlet.console.errors import CommandError
from townlet.console.execute import execute, response_encoder
from townlet.console.table import LOCAL, WRITES_FILES, Command, bind, build_table
from townlet.wire.console import (
    ERROR_CODES,
    ErrorBody,
    Request,
    Response,
    decode_request,
    decode_response,
    encode,
    salvage_cmd_id,
)
from townlet.world.errors import AgentNotFound, BlockedTile, InvalidArgument, WorldError

_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(),
                    st.text(max_size=20), st.binary(max_size=20))
values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=4),
                                                   st.dictionaries(st.text(max_size=8), c,
                                                                   max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_never_crashes_on_bytes(data: bytes) -> None:
    try:
        req = decode_request(data)
    except _DECODE_ERRORS:
        assert isinstance(salvage_cmd_id(data), str)
        return
    assert isinstance(req, Request)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["cmd_id", "name", "args", "kwargs", "extra"]), values,
                       max_size=5))
def test_decoder_on_structured_garbage(obj: dict) -> None:
    data = msgspec.msgpack.encode(obj)
    try:
        req = decode_request(data)
    except _DECODE_ERRORS as exc:
        assert str(exc)
        return
    assert isinstance(req.name, str) and 1 <= len(req.name) <= 64
    assert isinstance(req.args, list) and len(req.args) <= 16
    assert isinstance(req.kwargs, dict)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_.:\-]{1,64}", fullmatch=True), st.text(min_size=1, max_size=64),
       st.lists(values, max_size=5), st.dictionaries(st.text(max_size=8), values, max_size=5))
def test_valid_requests_round_trip(cmd_id: str, name: str, args: list, kwargs: dict) -> None:
    req = Request(cmd_id=cmd_id, name=name, args=args, kwargs=kwargs)
    data = encode(req)
    try:
        back = decode_request(data)
    except msgspec.ValidationError:
        return  # floats nan compare unequal etc. are fine; strings are validated
    assert back.cmd_id == cmd_id and back.name == name
    assert salvage_cmd_id(data) == cmd_id


@pytest.mark.parametrize("obj,match", [
    ({"name": "x"}, "missing required field `cmd_id`"),
    ({"cmd_id": "a", "name": ""}, "length >= 1"),
    ({"cmd_id": "a b", "name": "x"}, "regex"),
    ({"cmd_id": "a", "name": "x", "args": {}}, "Expected `array`"),
    ({"cmd_id": "a", "name": "x", "args": list(range(17))}, "length <= 16"),
    ({"cmd_id": "a", "name": "x", "mode": "admin"}, "unknown field `mode`"),
    ([1, 2, 3], "Expected `object`"),
])
def test_envelope_errors_name_the_field(obj: object, match: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=match):
        decode_request(msgspec.msgpack.encode(obj))


def test_deep_nesting_and_bad_utf8_are_decode_errors() -> None:
    deep = b"\x84\xa6cmd_id\xa1a\xa4name\xa1x\xa4args\x91" + b"\x91" * 100_000 + b"\xc0"
    with pytest.raises(msgspec.DecodeError, match="nested too deeply"):
        decode_request(deep)
    assert salvage_cmd_id(b"\x91" * 100_000) == ""
    with pytest.raises(msgspec.DecodeError, match="UTF-8"):
        decode_request(b"\x81\xa3\x00\x00\x80")
    assert salvage_cmd_id(b"\x81\xa3\x00\x00\x80") == ""


def test_response_round_trip() -> None:
    r = Response(cmd_id="c", ok=False, error=ErrorBody("E_NOT_FOUND", "no agent 3"), tick=7)
    assert decode_response(encode(r)) == r


def test_client_exceptions_cover_every_code() -> None:
    assert set(ERROR_TYPES) == set(ERROR_CODES)
    for code, cls in ERROR_TYPES.items():
        assert cls.code == code


class Args(msgspec.Struct, forbid_unknown_fields=True):
    agent: Annotated[int, Meta(ge=0)]
    x: int = 0
    label: str | None = None


def handler(ctx: object, p: Args) -> int:
    """A test handler."""
    return p.agent


TABLE = build_table([("probe", "viewer", handler, LOCAL)])


@pytest.mark.parametrize("args,kwargs,expect", [
    ([3], {}, Args(3)), ([3, 4], {}, Args(3, 4)), ([], {"agent": 1, "label": "z"},
                                                    Args(1, 0, "z")),
])
def test_bind_ok(args: list, kwargs: dict, expect: Args) -> None:
    assert bind(TABLE["probe"], args, kwargs) == expect


@pytest.mark.parametrize("args,kwargs,code,match", [
    ([], {}, "E_USAGE", "missing argument 'agent'; usage: probe <agent> \\[x=0\\]"),
    ([1, 2, 3, 4], {}, "E_USAGE", "at most 3 positional"),
    ([1], {"agent": 2}, "E_USAGE", "given twice"),
    ([1], {"nope": 2}, "E_USAGE", "no argument 'nope'"),
    (["1"], {}, "E_INVALID_ARG", "Expected 'int', got 'str' - at 'agent'"),
    ([-1], {}, "E_INVALID_ARG", ">= 0"),
    ([1], {"label": 5}, "E_INVALID_ARG", "at 'label'"),
])
def test_bind_errors(args: list, kwargs: dict, code: str, match: str) -> None:
    with pytest.raises(CommandError, match=match) as info:
        bind(TABLE["probe"], args, kwargs)
    assert info.value.code == code


def test_table_rules() -> None:
    def nodoc(ctx: object, p: Args) -> None:
        return None

    def noparams(ctx: object, q: int) -> None:
        """Doc."""

    with pytest.raises(ValueError, match="must be admin-only"):
        build_table([("w", "operator", handler, WRITES_FILES)])
    with pytest.raises(ValueError, match="unknown role"):
        build_table([("w", "root", handler)])
    with pytest.raises(ValueError, match="duplicate"):
        build_table([("w", "viewer", handler), ("w", "viewer", handler)])
    with pytest.raises(ValueError, match="docstring"):
        build_table([("w", "viewer", nodoc)])
    with pytest.raises(TypeError, match="p: <Struct>"):
        build_table([("w", "viewer", noparams)])
    with pytest.raises(ValueError, match="unknown flags"):
        build_table([("w", "viewer", handler, "sometimes")])
    with pytest.raises(ValueError, match="unknown console error code"):
        CommandError("E_WHATEVER", "x")


def test_cli_token_parsing() -> None:
    assert parse_tokens(["5", "x=3", "name=bob", "flag=true", "l=[1,2]", '"7"']) == (
        [5, "7"], {"x": 3, "name": "bob", "flag": True, "l": [1, 2]})
    assert parse_tokens(["price_spike", "magnitude=1.5"]) == (["price_spike"],
                                                              {"magnitude": 1.5})


def test_completer() -> None:
    c = Completer(["status", "spawn", "speed", "help"])
    assert [c("s", i) for i in range(4)] == ["spawn", "speed", "status", None]
    assert c("q", 0) == "quit" and c("zz", 0) is None


class _NoArgs(msgspec.Struct):
    pass


class _OddWorldError(WorldError):
    code = "E_NOT_A_CONSOLE_CODE"


@pytest.mark.parametrize(("exc", "code"), [
    (AgentNotFound("agent 3 is not alive"), "E_NOT_FOUND"),
    (InvalidArgument("duration must be > 0"), "E_INVALID_ARG"),  # also a ValueError
    (BlockedTile("a wall"), "E_BLOCKED_TILE"),
    (_OddWorldError("odd"), "E_INVALID_ARG"),  # a code the wire does not know
    (KeyError("a handler bug"), "E_INTERNAL"),
])
def test_a_world_error_answers_its_code_and_a_handler_bug_e_internal(exc, code):
    """``execute`` maps a world error to its console code without importing the world
    package (townlet.console.execute looks it up), and anything else to E_INTERNAL."""
    def handler(ctx, p):
        raise exc

    cmd = Command(name="boom", role="viewer", run=handler, params=_NoArgs, result=None,
                  summary="raises")
    out = execute(cmd, None, _NoArgs(), "c1", 4, response_encoder())  # type: ignore[arg-type]
    resp = msgspec.msgpack.decode(out.payload, type=Response)
    assert (out.code, resp.ok, resp.error.code, resp.tick) == (code, False, code, 4)
    assert code == "E_INTERNAL" or str(exc) in resp.error.message
