"""Snapshot container: round trips, atomic writes, and every kind of bad file."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import msgspec
import numpy as np
import pytest

from townlet.snapshots import (
    PolicyIdentity,
    SnapshotError,
    SnapshotFormatError,
    SnapshotHeader,
    SnapshotVersionError,
    open_snapshot,
    read_header,
    write_snapshot,
)
from townlet.snapshots.format import FORMAT_VERSION, MAGIC, PREFIX_SIZE, header_digest

SECTIONS = {
    "agent_x": np.arange(10, dtype=np.int16),
    "agent_needs": np.linspace(0, 1, 40, dtype=np.float32).reshape(10, 4),
    "agent_alive": np.array([True, False] * 5),
    "agent_wallet": np.linspace(-3, 3, 10),
    "empty": np.zeros((0, 3), np.int64),
    "clock": np.array([123], np.int64),
    "scalar": np.array(7, np.uint8),
    "rng_key": np.array([2**64 - 1, 0, 12345, 99], np.uint64),
    "half": np.array([0.5, -2.0], np.float16),
}


def meta(**kw) -> SnapshotHeader:
    base = {"format_version": 0, "schema_version": 2, "config_id": "cafe0123", "tick": 123,
            "seed": 9, "created_at": "2026-01-01T00:00:00Z",
            "identity": PolicyIdentity(policy_hash="ab" * 32, observation_variant="full",
                                       anneal_ratio=0.25)}
    return SnapshotHeader(**(base | kw))


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    path = tmp_path / "s.tsnap"
    write_snapshot(path, meta(), SECTIONS, overwrite=False)
    return path


def test_round_trip_preserves_every_array_read_only(snap: Path) -> None:
    s = open_snapshot(snap)
    assert list(s.sections) == list(SECTIONS)
    for name, arr in SECTIONS.items():
        got = s.sections[name]
        assert got.dtype == arr.dtype and got.shape == arr.shape, name
        assert np.array_equal(got, arr), name
        assert not got.flags.writeable
        with pytest.raises(ValueError):
            got[...] = 0
    h = s.header
    assert (h.tick, h.seed, h.config_id, h.format_version) == (123, 9, "cafe0123", FORMAT_VERSION)
    assert h.identity.anneal_ratio == 0.25 and h.identity.observation_variant == "full"


def test_sections_are_aligned_views_on_one_map(snap: Path) -> None:
    s = open_snapshot(snap)
    for entry in s.header.sections:
        assert entry.offset % 64 == 0
    bases = {id(_root(a)) for a in s.sections.values()}
    assert len(bases) == 1  # every array is a view on the same mapping: no copies


def _root(a: np.ndarray):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a.base


def test_non_contiguous_input_is_written_in_c_order(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.int32).reshape(4, 6)[:, ::2]
    write_snapshot(tmp_path / "a", meta(), {"a": arr, "t": arr.T}, overwrite=False)
    s = open_snapshot(tmp_path / "a")
    assert np.array_equal(s.sections["a"], arr) and np.array_equal(s.sections["t"], arr.T)


def test_read_header_is_cheap_and_matches(snap: Path) -> None:
    assert read_header(snap) == open_snapshot(snap).header


def test_no_overwrite_by_default_and_atomic_replace(tmp_path: Path, snap: Path) -> None:
    before = snap.read_bytes()
    with pytest.raises(SnapshotError, match="already exists"):
        write_snapshot(snap, meta(tick=999), SECTIONS, overwrite=False)
    assert snap.read_bytes() == before
    write_snapshot(snap, meta(tick=999), SECTIONS, overwrite=True)
    assert read_header(snap).tick == 999
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tsnap"]  # no temp files left


@pytest.mark.parametrize(
    "sections, match",
    [
        ({"obj": np.array([object()], dtype=object)}, "unsupported dtype"),
        ({"rec": np.zeros(2, dtype=[("a", "i4")])}, "unsupported dtype"),
        ({"big": np.arange(3, dtype=">i4")}, "unsupported dtype"),
        ({"cplx": np.zeros(2, np.complex64)}, "unsupported dtype"),
        ({"Bad-Name": np.zeros(2)}, "invalid section name"),
        ({"": np.zeros(2)}, "invalid section name"),
        ({"lst": [1, 2]}, "expected a numpy array"),
    ],
)
def test_unsaveable_sections_leave_nothing_behind(tmp_path: Path, sections, match) -> None:
    with pytest.raises(SnapshotError, match=match):
        write_snapshot(tmp_path / "x.tsnap", meta(), sections, overwrite=False)
    assert list(tmp_path.iterdir()) == []


# ---- bad files -------------------------------------------------------------------------


def _rewrite_header(path: Path, edit) -> None:
    """Apply ``edit(bytes) -> bytes`` (same length) to the header and re-sign it."""
    raw = bytearray(path.read_bytes())
    (header_len,) = struct.unpack_from("<Q", raw, 16)
    body = bytes(raw[PREFIX_SIZE : PREFIX_SIZE + header_len])
    new = edit(body)
    assert len(new) == len(body), "edit must keep the header length"
    raw[PREFIX_SIZE : PREFIX_SIZE + header_len] = new
    raw[32:48] = header_digest(new)
    path.write_bytes(bytes(raw))


def _section_offset(path: Path, name: str) -> int:
    return next(e.offset for e in read_header(path).sections if e.name == name)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e").write_bytes(b"")
    with pytest.raises(SnapshotFormatError, match="prefix: not a Townlet snapshot"):
        open_snapshot(tmp_path / "e")


def test_wrong_magic(tmp_path: Path) -> None:
    (tmp_path / "j").write_text('{"schema_version": "1.5", "state": {}}' * 4)
    with pytest.raises(SnapshotFormatError, match="wrong magic") as info:
        open_snapshot(tmp_path / "j")
    assert info.value.part == "prefix"


def test_truncated_prefix(snap: Path) -> None:
    snap.write_bytes(snap.read_bytes()[:20])
    with pytest.raises(SnapshotFormatError, match="prefix: truncated"):
        open_snapshot(snap)


def test_truncated_header(snap: Path) -> None:
    snap.write_bytes(snap.read_bytes()[: PREFIX_SIZE + 10])
    with pytest.raises(SnapshotFormatError, match="header: truncated"):
        open_snapshot(snap)


def test_truncated_inside_a_section_names_it(snap: Path) -> None:
    cut = _section_offset(snap, "agent_wallet") + 8
    snap.write_bytes(snap.read_bytes()[:cut])
    with pytest.raises(SnapshotFormatError, match="section 'agent_wallet': truncated") as info:
        open_snapshot(snap)
    assert info.value.part == "section 'agent_wallet'"
    with pytest.raises(SnapshotFormatError, match="agent_wallet"):
        read_header(snap)  # even the cheap header read catches it


def test_truncated_padding_and_appended_bytes(snap: Path) -> None:
    raw = snap.read_bytes()
    snap.write_bytes(raw + b"junk")
    with pytest.raises(SnapshotFormatError, match="truncated or appended"):
        open_snapshot(snap)


def test_future_format_version(snap: Path) -> None:
    raw = bytearray(snap.read_bytes())
    struct.pack_into("<I", raw, 8, FORMAT_VERSION + 1)
    snap.write_bytes(bytes(raw))
    with pytest.raises(SnapshotVersionError, match="newer than this build"):
        open_snapshot(snap)


def test_zero_format_version(snap: Path) -> None:
    raw = bytearray(snap.read_bytes())
    struct.pack_into("<I", raw, 8, 0)
    snap.write_bytes(bytes(raw))
    with pytest.raises(SnapshotFormatError, match="invalid format version"):
        open_snapshot(snap)


def test_absurd_header_length(snap: Path) -> None:
    raw = bytearray(snap.read_bytes())
    struct.pack_into("<Q", raw, 16, 2**40)
    snap.write_bytes(bytes(raw))
    with pytest.raises(SnapshotFormatError, match="header length"):
        open_snapshot(snap)


def test_tampered_header_byte(snap: Path) -> None:
    raw = bytearray(snap.read_bytes())
    i = raw.index(b'"tick":123')
    raw[i + 7] = ord("9")
    snap.write_bytes(bytes(raw))
    with pytest.raises(SnapshotFormatError, match="header: checksum mismatch"):
        open_snapshot(snap)


@pytest.mark.parametrize("name", ["agent_needs", "rng_key", "scalar"])
def test_tampered_section_names_it_and_loads_nothing(snap: Path, name: str) -> None:
    raw = bytearray(snap.read_bytes())
    raw[_section_offset(snap, name)] ^= 0x01
    snap.write_bytes(bytes(raw))
    with pytest.raises(SnapshotFormatError, match=f"section '{name}': checksum mismatch"):
        open_snapshot(snap)
    # read_header does not hash sections; open_snapshot(verify=False) is the explicit opt-out
    assert read_header(snap).tick == 123


def test_resigned_header_with_inconsistent_shape(snap: Path) -> None:
    _rewrite_header(snap, lambda b: b.replace(b'"shape":[10,4]', b'"shape":[10,5]'))
    with pytest.raises(SnapshotFormatError, match="section 'agent_needs': length"):
        open_snapshot(snap)


def test_resigned_header_with_object_dtype(snap: Path) -> None:
    _rewrite_header(snap, lambda b: b.replace(b'"dtype":"<i2"', b'"dtype":"|O2"'))
    with pytest.raises(SnapshotFormatError, match="section 'agent_x': unsupported dtype"):
        open_snapshot(snap)


def test_resigned_header_with_overlapping_sections(snap: Path) -> None:
    h = read_header(snap)
    a, b = h.sections[0], h.sections[1]
    old = f'"offset":{b.offset},'.encode()
    new = f'"offset":{a.offset},'.encode().ljust(len(old), b" ")
    _rewrite_header(snap, lambda body: body.replace(old, new))
    with pytest.raises(SnapshotFormatError, match=f"section '{b.name}': bad offset"):
        open_snapshot(snap)


def test_resigned_header_that_is_not_a_header(snap: Path) -> None:
    _rewrite_header(snap, lambda b: b.replace(b'"seed":9', b'"seed":"'))
    with pytest.raises(SnapshotFormatError, match="header: invalid"):
        open_snapshot(snap)
    _rewrite_header(snap, lambda b: b.replace(b'"seed":"', b'"seez":9'))
    with pytest.raises(SnapshotFormatError, match="header: invalid"):
        open_snapshot(snap)


def test_duplicate_section_in_table(tmp_path: Path) -> None:
    path = tmp_path / "d"
    write_snapshot(path, meta(), {"aa": np.zeros(2), "ab": np.zeros(2)}, overwrite=False)
    _rewrite_header(path, lambda b: b.replace(b'"name":"ab"', b'"name":"aa"'))
    with pytest.raises(SnapshotFormatError, match="section 'aa': appears twice"):
        open_snapshot(path)


def test_magic_is_written_last(tmp_path: Path) -> None:
    """A file whose prefix never got written (crash before the last write) is rejected."""
    path = tmp_path / "s"
    write_snapshot(path, meta(), SECTIONS, overwrite=False)
    raw = bytearray(path.read_bytes())
    raw[:PREFIX_SIZE] = bytes(PREFIX_SIZE)
    path.write_bytes(bytes(raw))
    with pytest.raises(SnapshotFormatError, match="wrong magic"):
        open_snapshot(path)
    assert MAGIC.startswith(b"\x89")


def test_header_is_plain_json_not_code(snap: Path) -> None:
    """The header decodes as inert JSON; nothing in the file is unpickled or evaluated."""
    raw = snap.read_bytes()
    (header_len,) = struct.unpack_from("<Q", raw, 16)
    doc = msgspec.json.decode(raw[PREFIX_SIZE : PREFIX_SIZE + header_len])
    assert doc["config_id"] == "cafe0123" and isinstance(doc["sections"], list)
    assert b"pickle" not in raw and os.path.getsize(snap) % 64 == 0


WRITER = """
import sys, numpy as np
from pathlib import Path
from townlet.snapshots import SnapshotHeader, write_snapshot
path = Path(sys.argv[1])
data = {"big": np.zeros(6_000_000, np.float64), "tick": np.zeros(1, np.int64)}
print("ready", flush=True)
for tick in range(1_000_000):
    data["big"][:] = tick
    data["tick"][0] = tick
    write_snapshot(path, SnapshotHeader(format_version=0, schema_version=2, config_id="c",
                   tick=tick, seed=0, created_at="t"), data, overwrite=True)
"""


def test_killed_writer_never_leaves_a_valid_looking_partial_file(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "auto.tsnap"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    deadline = time.monotonic() + 20
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.37)  # land somewhere inside a later write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    s = open_snapshot(target)  # the published name always holds a complete snapshot
    tick = s.sections["tick"][0]
    assert np.all(s.sections["big"] == tick) and s.header.tick == tick
    for leftover in tmp_path.iterdir():
        if leftover == target:
            continue
        assert leftover.name.startswith(".auto.tsnap.tmp-")
        try:
            done = open_snapshot(leftover)
        except SnapshotFormatError as exc:  # cut short: never passes for a snapshot
            assert exc.part in ("prefix", "header")
        else:  # killed between the final fsync and the rename: complete and consistent
            assert np.all(done.sections["big"] == done.header.tick)


def test_reserved_prefix_bytes_must_be_zero(snap: Path) -> None:
    raw = bytearray(snap.read_bytes())
    raw[50] = 1
    snap.write_bytes(bytes(raw))
    with pytest.raises(SnapshotFormatError, match="prefix: reserved bytes"):
        open_snapshot(snap)


def test_checksum_is_xxh3_128_of_the_section_bytes(snap: Path) -> None:
    import xxhash

    entry = read_header(snap).sections[1]
    assert entry.checksum == xxhash.xxh3_128_hexdigest(SECTIONS[entry.name].tobytes())


@pytest.mark.parametrize("kind", ["missing", "directory", "symlink"])
def test_paths_that_are_not_snapshot_files(tmp_path: Path, snap: Path, kind: str) -> None:
    target = {"missing": tmp_path / "nope", "directory": tmp_path, "symlink": tmp_path / "ln"}[kind]
    if kind == "symlink":
        target.symlink_to(snap)
    match = {"missing": "no such snapshot", "directory": "not a regular file",
             "symlink": "symbolic link"}[kind]
    with pytest.raises(SnapshotError, match=match):
        open_snapshot(target)
