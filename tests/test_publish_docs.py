"""docs/protocol.md agrees with the code, and is enough to decode the stream without townlet.

The decoder below uses only msgpack (untyped), hashlib and numpy, following the
document's rules, to rebuild frames from captured wire payloads of a real
publisher; its frame hashes must equal the simulation's.
"""

from __future__ import annotations

import hashlib
import re
import time

import msgspec
import numpy as np
import zmq
from telemetry_helpers import (
    ROOT,
    go,
    load_hashes,
    make_keys,
    no_shm_leak,  # noqa: F401 - autouse fixture
    read_json_line,
    start_publisher,
    start_writer,
    stop,
)
from townlet._core import lib

from townlet.frames.schema import META_COLUMNS, SCHEMA_VERSION, STATE_COLUMNS
from townlet.publish.metrics import PublisherMetrics
from townlet.wire import messages
from townlet.world.actions import Flag, Shift
from townlet.world.events import EventCode
from townlet.world.state import PRICES, STAT

DOC = (ROOT / "docs" / "protocol.md").read_text()


def test_every_column_field_and_code_is_documented():
    assert f"Version **{SCHEMA_VERSION}**" in DOC
    for name, dtype in META_COLUMNS:
        assert f"`{name}` (`{dtype}`" in DOC, name
    for name in STATE_COLUMNS:
        assert f"`{name}`" in DOC, name
    for struct in (messages.Keyframe, messages.Delta, messages.Health, messages.Resync,
                   messages.SkippedEvents, messages.Full, messages.Sparse, messages.Masked,
                   messages.Stepped, messages.Offset, messages.Repeat):
        for field in struct.__struct_fields__:
            assert f'"{field}"' in DOC or f"`{field}`" in DOC, (struct.__name__, field)
        tag = struct.__struct_config__.tag
        if isinstance(tag, str):
            assert f'"{tag}"' in DOC or f"`{tag}`" in DOC, tag
    for code in EventCode:
        assert f"{code.name} {code.value}" in DOC, code
    for flag in Flag:
        assert f"{flag.name} {flag.value}" in DOC, flag
    for shift in Shift:
        assert f"{shift.name} {shift.value}" in DOC, shift
    assert ", ".join(STAT) in DOC and ", ".join(PRICES) in DOC
    for metric in PublisherMetrics().registry.collect():
        name = metric.name + ("_total" if metric.type == "counter" else "")
        assert f"`{name}" in DOC, name


def test_ring_constants_are_documented():
    assert f"`header_size` u32 = {lib.TR_HEADER_SIZE}" in DOC
    assert f"`slot_header_size` u32 = {lib.TR_SLOT_HEADER_SIZE}" in DOC
    assert f"`layout_version` u32 = {lib.TR_LAYOUT_VERSION}" in DOC
    assert "0x474E49524E574F54" in DOC and "schema document (JSON, §2.2) at offset 128" in DOC


# ---------------------------------------------------------------- independent decoder
def _exponent(values: np.ndarray) -> np.ndarray:
    if values.dtype.itemsize == 4:
        return (values.view("<u4") >> 23) & 0xFF
    return (values.view("<u8") >> 52) & 0x7FF


def _apply(flat: np.ndarray, ch: dict, ncomp: int, prev: np.ndarray | None = None) -> None:
    kind, dt = ch["kind"], flat.dtype
    if kind == "full":
        flat[:] = np.frombuffer(ch["data"], dt)
    elif kind == "sparse":
        flat[np.frombuffer(ch["index"], "<u4")] = np.frombuffer(ch["values"], dt)
    elif kind == "mask":
        bits = np.unpackbits(np.frombuffer(ch["mask"], np.uint8), bitorder="little")
        flat[np.flatnonzero(bits[: flat.size])] = np.frombuffer(ch["values"], dt)
    elif kind == "step":
        old = flat.copy()
        comp = np.arange(flat.size) % ncomp
        exp = _exponent(old)
        for c, e, s in zip(np.frombuffer(ch["comp"], "<u2"), np.frombuffer(ch["exp"], "<u2"),
                           np.frombuffer(ch["step"], dt), strict=True):
            hit = (comp == c) & (exp == e)
            flat[hit] = old[hit] + s
        if ch["fix"] is not None:
            _apply(flat, ch["fix"], ncomp)
    elif kind == "offset":
        if ch["index"] is not None:
            where = np.frombuffer(ch["index"], "<u4")
        else:
            where = np.flatnonzero(np.unpackbits(np.frombuffer(ch["mask"], np.uint8),
                                                 bitorder="little")[: flat.size])
        unsigned = f"<u{dt.itemsize}"  # unsigned sums wrap modulo 2^(8 x item size)
        diff = np.frombuffer(ch["diff"], f"<i{ch['width']}").astype(f"<i{dt.itemsize}")
        flat[where] = (flat[where].view(unsigned) + diff.view(unsigned)).view(dt)
    elif kind == "repeat":
        unsigned = f"<u{dt.itemsize}"
        if prev is not None:  # cur + (cur - prev) on the raw bits, wrapping
            cur = flat.view(unsigned).copy()
            flat.view(unsigned)[:] = cur + (cur - prev.reshape(-1).view(unsigned))
        if ch["fix"] is not None:
            _apply(flat, ch["fix"], ncomp)
    else:
        raise AssertionError(f"undocumented change kind {kind}")


class DocDecoder:
    def __init__(self) -> None:
        self.cols: dict[str, np.ndarray] = {}
        self.prev: dict[str, np.ndarray] = {}  # columns the last delta changed, before it
        self.synced = False

    def feed(self, m: dict) -> str | None:
        if m["kind"] == "key":
            self.schema = m["schema"]
            self.cols = {name: np.frombuffer(col["data"], dt).reshape(shape).copy()
                         for (name, dt, shape), col in zip(self.schema["columns"], m["columns"],
                                                            strict=True)}
            self.prev = {}
            self.synced = True
        elif m["kind"] == "delta":
            if not (self.synced and m["stream"] == self.stream and m["seq"] == self.seq + 1
                    and m["base_tick"] == self.tick):
                self.synced = False
                return None
            prev, self.prev = self.prev, {}
            for ch in m["changes"]:
                arr = self.cols[ch["c"]]
                self.prev[ch["c"]] = arr.copy()
                _apply(arr.reshape(-1), ch, int(np.prod(arr.shape[1:])) if arr.ndim > 1 else 1,
                       prev.get(ch["c"]))
        else:
            return None
        self.stream, self.seq, self.tick, self.hash_hex = (m["stream"], m["seq"], m["tick"],
                                                           m["schema_hash"])
        events = {col["c"]: col["data"] for col in m["events"]}
        h = hashlib.sha256(bytes.fromhex(self.hash_hex))
        for name, _, _ in self.schema["columns"]:
            h.update(name.encode() + self.cols[name].tobytes())
        for name, _, _ in self.schema["events"]:
            h.update(name.encode() + events[name])
        return h.hexdigest()


def test_a_decoder_written_from_the_document_rebuilds_the_frames(tmp_path):
    hashes = tmp_path / "hashes.jsonl"
    writer, info = start_writer("--agents", "3000", "--ticks", "150", "--rate", "100",
                                "--hashes", str(hashes), "--wait-go", "--hold")
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--insecure-dev",
                                 "--keyframe-interval", "60", "--hwm", "1000")
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 1000)
    sub.connect(ready["endpoint"])
    sub.subscribe(b"f")
    try:
        time.sleep(0.3)
        go(writer)
        payloads = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sub.poll(200):
                topic, payload = sub.recv_multipart()
                assert topic == b"f"
                payloads.append(payload)
                if msgspec.msgpack.decode(payload)["tick"] == 149:
                    break
        assert read_json_line(writer)["done"] == 150
    finally:
        sub.close(0)
        ctx.term()
        stop(writer)
        stop(pub)
    truth = load_hashes(hashes)
    dec, verified, kinds = DocDecoder(), 0, set()
    for payload in payloads:
        m = msgspec.msgpack.decode(payload)
        kinds |= {ch["kind"] for ch in m.get("changes", [])}
        h = dec.feed(m)
        if h is not None:
            assert h == truth[m["tick"]], f"tick {m['tick']}"
            verified += 1
    assert verified == len(payloads) and payloads
    assert {"step", "full", "offset", "repeat"} <= kinds and kinds & {"sparse", "mask"}, kinds
    assert re.fullmatch(r"[0-9a-f]{64}", dec.hash_hex)


def _doc_key(path, field: str) -> bytes:
    """A key from a key file, read as §1.1 describes (neither townlet nor zmq.auth)."""
    for line in path.read_text().splitlines():
        name, _, value = line.strip().partition(" = ")
        if not line.lstrip().startswith("#") and name == field:
            return value.strip('"').encode("ascii")
    raise AssertionError(f"no {field} in {path}")


def _kinds(m: dict) -> None:
    """§2: messages and column changes carry ``kind``; schema and SkippedEvents do not."""
    assert "kind" in m and "kind" not in m.get("schema", {})
    for ch in m.get("changes", []):
        assert "kind" in ch and (ch.get("fix") is None or "kind" in ch["fix"])
    for col in (*m.get("columns", []), *m.get("events", [])):
        assert col["kind"] == "full"
    for sk in m.get("skipped", []):
        assert "kind" not in sk and all(e["kind"] == "full" for e in sk["events"])


def test_a_curve_xsub_client_written_from_the_document(tmp_path):
    """Key files, XSUB subscription messages, ``kind``, ``subscribers`` and the end of the
    stream, each as the document says, against a secure publisher."""
    keys = make_keys(tmp_path)
    hashes = tmp_path / "hashes.jsonl"
    writer, info = start_writer("--agents", "500", "--ticks", "60", "--rate", "100",
                                "--hashes", str(hashes), "--wait-go", "--hold")
    pub, ready = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                                 "--keyframe-interval", "20", "--hwm", "1000",
                                 "--health-seconds", "0.1")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.XSUB)
    sock.curve_serverkey = _doc_key(keys["server"], "public-key")
    sock.curve_publickey = _doc_key(keys["viewer"], "public-key")
    sock.curve_secretkey = _doc_key(keys["viewer"], "secret-key")
    sock.setsockopt(zmq.RCVHWM, 1000)
    sock.connect(ready["endpoint"])
    for sub in (b"\x01f", b"\x01f", b"\x01h", b"\x01"):  # one connection, four messages
        sock.send(sub)
    frames, counts, end = [], [], None
    try:
        deadline = time.monotonic() + 30
        while end is None and time.monotonic() < deadline:
            if not sock.poll(200):
                continue
            topic, payload = sock.recv_multipart()
            m = msgspec.msgpack.decode(payload)
            _kinds(m)
            assert topic == (b"h" if m["kind"] == "health" else b"f")
            if m["kind"] == "health":
                counts.append(m["subscribers"])
                if len(counts) == 1:
                    go(writer)
            elif m["kind"] == "end":
                end = m
            else:
                frames.append(m)
                if m["tick"] == 59:
                    writer.stdin.close()  # the simulation is done: the stream ends
        assert writer.wait(30) == 0 and pub.wait(30) == 0
    finally:
        sock.close(0)
        ctx.term()
        stop(writer)
        stop(pub)
    assert end is not None and end["reason"] == "writer_done"
    assert end["last_seq"] == frames[-1]["seq"] and end["last_tick"] == 59
    assert counts and set(counts) == {1}, counts  # connections, not subscription messages
    truth, dec = load_hashes(hashes), DocDecoder()
    verified = [dec.feed(m) == truth[m["tick"]] for m in frames]
    assert frames and all(verified)
