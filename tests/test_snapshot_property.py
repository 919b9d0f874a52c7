"""Property tests: any valid set of arrays round-trips; any single corrupted byte is either
reported or provably harmless (padding), never silently loaded as different data."""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townlet.snapshots import SnapshotError, SnapshotHeader, open_snapshot, write_snapshot

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
def test_single_corrupt_byte_is_never_loaded_silently(sections, where: float, bit: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.tsnap"
        write_snapshot(path, HEADER, sections, overwrite=False)
        raw = bytearray(path.read_bytes())
        raw[int(where * len(raw))] ^= 1 << bit
        path.write_bytes(bytes(raw))
        try:
            snap = open_snapshot(path)
        except SnapshotError:
            return
        assert snap.header.tick == 1 and list(snap.sections) == list(sections)
        assert all(_same(snap.sections[k], v) for k, v in sections.items())
