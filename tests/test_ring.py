"""The C frame ring through townlet._core: errors, lapping, and a hammering writer process."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from telemetry_helpers import ROOT, no_shm_leak  # noqa: F401 - autouse fixture
from townlet._core import lib

from townlet.frames import shm
from townlet.frames.reader import FrameReader
from townlet.frames.ring import (
    LappedRead,
    NotPublished,
    RingError,
    RingExists,
    RingHandle,
    RingNotFound,
    SchemaMismatch,
    TornRead,
    check,
)

DOC = b'{"version":"2.0.0","columns":[],"events":[]}'


def _publish(ring: RingHandle, tick: int, payload: np.ndarray) -> int:
    from townlet._core import ffi

    buf = ffi.from_buffer(payload)
    ptrs = ffi.new("const void *[]", [buf])
    return check(lib.tr_publish(ring.ptr, tick, payload.nbytes, 1, ptrs, [0], [payload.nbytes]),
                 "publish")


@pytest.fixture
def name():
    n = shm.new_ring_name()
    yield n
    lib.tr_unlink(n.encode())


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None,
                    reason="needs a C compiler and make")
def test_pure_c_driver(tmp_path):
    """core/test_ring.c: error paths plus a forked writer hammering a reader, in plain C."""
    work = tmp_path / "core"
    shutil.copytree(ROOT / "core", work)
    res = subprocess.run(["make", "-C", str(work), "test"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all checks passed" in res.stdout
    assert "corrupted=0" in res.stdout


def test_create_attach_and_errors(name):
    w = RingHandle.create(name, DOC, 3, 256, 1234, 99)
    with pytest.raises(RingExists, match="already exists"):
        RingHandle.create(name, DOC, 3, 256, 1234, 99)
    with pytest.raises(SchemaMismatch, match="schema hash"):
        RingHandle.attach(name, b"\0" * 32)
    r = RingHandle.attach(name, hashlib.sha256(DOC).digest())
    assert r.schema_doc() == DOC
    assert lib.tr_writer_pid(r.ptr) == 1234 and lib.tr_writer_starttime(r.ptr) == 99
    payload = np.arange(32, dtype=np.uint64)
    with pytest.raises(RingError, match="read-only"):
        _publish(r, 1, payload)
    with pytest.raises(RingError, match="does not fit"):
        _publish(w, 1, np.zeros(10_000, np.uint8))
    w.close()
    r.close()
    with pytest.raises(RingError, match="closed"):
        r.ptr  # noqa: B018 - the property raises
    with pytest.raises(RingNotFound):
        RingHandle.attach("/townlet-0-doesnotexist")
    with pytest.raises(RingError, match="invalid argument"):
        RingHandle.create("no-leading-slash", DOC, 3, 256, 1, 0)
    with pytest.raises(RingError, match="invalid argument"):
        RingHandle.create(shm.new_ring_name(), DOC, 1, 256, 1, 0)


def test_not_published_and_lapped(name):
    w = RingHandle.create(name, DOC, 2, 256, 1, 0)
    r = RingHandle.attach(name)
    from townlet._core import ffi

    out = ffi.new("uint8_t[256]")
    tick, nb = ffi.new("int64_t *"), ffi.new("uint64_t *")
    with pytest.raises(NotPublished):
        check(lib.tr_read(r.ptr, 1, 0, 256, out, tick, nb, ffi.NULL), "read")
    for t in range(1, 4):
        _publish(w, t * 10, np.full(16, t, np.uint64))
    with pytest.raises(LappedRead, match="overwritten"):
        check(lib.tr_read(r.ptr, 1, 0, 256, out, tick, nb, ffi.NULL), "read")
    check(lib.tr_read(r.ptr, 3, 0, 256, out, tick, nb, ffi.NULL), "read")
    assert tick[0] == 30 and nb[0] == 128
    assert np.frombuffer(ffi.buffer(out, 128), np.uint64).tolist() == [3] * 16
    w.close()
    r.close()


HAMMER = textwrap.dedent("""
    import select
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from telemetry_writer import make_state
    from townlet.frames.writer import FrameRing
    from townlet.ops.logging import configure_logging
    configure_logging(json=True)  # logs (e.g. stale files removed) to stderr: stdout is ours
    st = make_state(int(sys.argv[1]), seed=1)
    ring = FrameRing.from_sections(st, config_id="hammer", ticks_per_day=100, slots=2,
                                   doorbell=None)
    print(ring.name, flush=True)
    sys.stdin.readline()
    tick = 0
    while not select.select([sys.stdin], [], [], 0)[0]:  # until the reader says stop
        st["agent_wallet"][:] = tick
        st["agent_needs"][:] = tick
        st["agent_x"][:] = tick % 30000
        ring.publish(tick, st)
        tick += 1
    ring.close()
""")


def _check_frame(frame) -> None:
    c, t = frame.columns, frame.tick
    assert frame.number == t + 1
    assert (c["agent_wallet"] == t).all() and (c["agent_needs"] == t).all()
    assert (c["agent_x"] == t % 30000).all() and c["tick"][0] == t


def test_hammering_writer_never_yields_a_torn_frame():
    """A writer process overwrites 2 slots of ~8 MB as fast as it can; every accepted frame
    must be internally consistent; torn and lapped copies are detected, never returned.
    The writer runs until the reader has both accepted frames and caught it tearing or
    lapping one (a fixed frame count proved nothing when a loaded box kept them apart)."""
    proc = subprocess.Popen([sys.executable, "-c", HAMMER, "200000", str(ROOT / "tests")],
                            stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    try:
        name = proc.stdout.readline().decode().strip()
        reader = FrameReader(name)
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        ok, deadline = 0, time.monotonic() + 120
        while ok < 10 or reader.torn_reads + reader.lapped_reads == 0:
            assert time.monotonic() < deadline, (
                f"no race within 120 s: {ok} frames accepted, {reader.torn_reads} torn, "
                f"{reader.lapped_reads} lapped")
            assert proc.poll() is None, "hammering writer died"
            f = reader.latest()
            if f == 0:
                continue
            try:
                frame = reader.read(f)
            except (TornRead, LappedRead):
                continue
            ok += 1
            _check_frame(frame)
        proc.stdin.write(b"stop\n")
        proc.stdin.flush()
        assert proc.wait(60) == 0
        assert reader.closed
        _check_frame(reader.read(reader.latest()))  # the writer is gone: the last frame is whole
        reader.close()
    finally:
        proc.stdin.close()
        proc.wait(60)
