"""Property tests: any valid set of arrays round-trips; any single corrupted byte, padding
included, is reported."""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townlet.snapshots import (
    SnapshotError,
    SnapshotFormatError,
    SnapshotHeader,
    open_snapshot,
    write_snapshot,
)

DTYPES = st.sampled_from(["|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8",
                          "<f2", "<f4", "<f8"])
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
ARRAYS = DTYPES.flatmap(lambda d: hnp.arrays(np.dtype(d), hnp.array_shapes(min_dims=0, max_dims=3,
                                                                          min_side=0, max_side=6)))
SECTIONS = st.dictionaries(NAMES, ARRAYS, min_size=0, max_size=6)
HEADER = SnapshotHeader(format_version=0, schema_version=2, config_id="c", tick=1, seed=2,
                        created_at="t")


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sections=SECTIONS)
def test_round_trip(sections: dict[str, np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.tsnap"
        write_snapshot(path, HEADER, sections, overwrite=False)
        snap = open_snapshot(path)
        assert list(snap.sections) == list(sections)
        assert all(_same(snap.sections[k], v) for k, v in sections.items())


@settings(max_examples=60, deadline=None)
@given(sections=SECTIONS.filter(bool), where=st.floats(0, 1, exclude_max=True),
       bit=st.integers(0, 7))
def test_single_corrupt_byte_is_always_reported(sections, where: float, bit: int) -> None:
    """Prefix, header, sections and the zero padding between them: a flipped bit anywhere
    in the file is refused."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.tsnap"
        write_snapshot(path, HEADER, sections, overwrite=False)
        raw = bytearray(path.read_bytes())
        raw[int(where * len(raw))] ^= 1 << bit
        path.write_bytes(bytes(raw))
        with pytest.raises(SnapshotError):
            open_snapshot(path)


def test_flipped_padding_byte_names_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "p.tsnap"
    header = write_snapshot(path, HEADER, {"a": np.ones(3, np.uint8), "b": np.ones(2, np.int8)},
                            overwrite=False)
    a, b = header.sections
    pristine = path.read_bytes()
    for offset, where in ((a.offset - 1, "the header"), (a.offset + a.nbytes, "section 'a'"),
                          (b.offset + b.nbytes + 5, "section 'b'")):
        raw = bytearray(pristine)
        raw[offset] ^= 0x01
        path.write_bytes(bytes(raw))
        with pytest.raises(SnapshotFormatError, match=f"padding after {where}: non-zero"):
            open_snapshot(path)
