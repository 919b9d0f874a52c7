"""Frame schema, writer validation, read-only frames and the shared-memory lifecycle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import msgspec
import numpy as np
import pytest
from telemetry_helpers import ROOT, no_shm_leak  # noqa: F401 - autouse fixture
from telemetry_writer import make_state, step

from townlet.frames import FrameReader, FrameRing, FrameSchema, SchemaError, frame_hash, shm
from townlet.frames.schema import (
    EVENT_COLUMNS,
    META_COLUMNS,
    SCHEMA_VERSION,
    STATE_COLUMNS,
    STATIC_COLUMNS,
    ColumnDoc,
    SchemaDoc,
)
from townlet.world.state import FIELDS


@pytest.fixture
def state():
    return make_state(300, seed=3)


@pytest.fixture
def ring(state):
    r = FrameRing.from_sections(state, config_id="cfg-42", ticks_per_day=100, doorbell=None)
    yield r
    r.close()


def test_schema_follows_the_world_state_table(state):
    s = FrameSchema.from_sections(state)
    table = {f.name: f for f in FIELDS}
    names = [c.name for c in s.columns]
    assert names == [n for n, _ in META_COLUMNS] + list(STATE_COLUMNS)
    for name in STATE_COLUMNS:
        spec = s.by_name[name]
        assert spec.dtype == np.dtype(table[name].dtype)
        assert spec.shape == state[name].shape
        assert spec.offset % 64 == 0
    assert [e.name for e in s.events] == [n for n, _ in EVENT_COLUMNS]
    assert s.event_capacity == state["evt_code"].size
    assert s.by_name["agent_alive"].role == "agent" and s.by_name["obj_x"].role == "object"
    again = FrameSchema.from_json(s.doc_bytes)
    assert again == s and again.hash == s.hash and len(s.hash) == 32
    assert FrameSchema.from_sections(make_state(301, seed=3)) != s  # shapes are in the hash


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.replace(version="4.0.0"), "major version differs"),
    (lambda d: d.replace(version="2.1.0"), "major version differs"),
    (lambda d: d.replace(columns=[ColumnDoc("x", ">i4", [3])]), "little-endian"),
    (lambda d: d.replace(columns=[ColumnDoc("x", "nonsense", [3])]), "bad dtype"),
    (lambda d: d.replace(columns=[ColumnDoc("x", "<i4", [3])] * 2), "duplicate"),
    (lambda d: d.replace(columns=[ColumnDoc("x", "<i4", [])]), "shape"),
    (lambda d: d.replace(events=[ColumnDoc("a", "<i4", [3]), ColumnDoc("b", "<i4", [4])]),
     "capacity"),
])
def test_bad_schema_documents_are_refused(state, mutate, message):
    doc = FrameSchema.from_sections(state).doc
    bad = mutate(_Replace(doc))
    with pytest.raises(SchemaError, match=message):
        FrameSchema(bad)


class _Replace:
    def __init__(self, doc: SchemaDoc) -> None:
        self.doc = doc

    def replace(self, **kw) -> SchemaDoc:
        return msgspec.structs.replace(self.doc, **kw)


def test_schema_json_errors():
    with pytest.raises(SchemaError, match="not JSON"):
        FrameSchema.from_json(b"{nope")
    with pytest.raises(SchemaError, match="bad schema document"):
        FrameSchema.from_json(b'{"version": "1.0.0"}')


def test_schema_major_version_covers_integer_money(state):
    """Money columns became int64 minor units (a dtype change: breaking), so the frame
    schema is major version >= 2 (3 since deltas may Repeat) and a version 1 document
    (float money) is refused."""
    doc = FrameSchema.from_sections(state).doc
    assert SCHEMA_VERSION.split(".")[0] == "3"
    assert next(c.dtype for c in doc.columns if c.name == "agent_wallet") == "<i8"
    v1 = msgspec.json.encode(msgspec.structs.replace(doc, version="1.0.0"))
    with pytest.raises(SchemaError, match="incompatible"):
        FrameSchema.from_json(v1)


def test_missing_or_mistyped_sections_name_the_section(state):
    bad = dict(state)
    del bad["agent_needs"]
    with pytest.raises(SchemaError, match="'agent_needs' is missing"):
        FrameSchema.from_sections(bad)
    bad = dict(state, agent_x=state["agent_x"].astype(np.int32))
    with pytest.raises(SchemaError, match="'agent_x': dtype int32 differs"):
        FrameSchema.from_sections(bad)


def test_publish_validates_every_section(ring, state):
    with pytest.raises(SchemaError, match="'obj_x' is missing"):
        ring.publish(0, {k: v for k, v in state.items() if k != "obj_x"})
    with pytest.raises(SchemaError, match="'agent_y': expected contiguous <i2"):
        ring.publish(0, dict(state, agent_y=state["agent_y"].astype(np.int64)))
    with pytest.raises(SchemaError, match="'agent_needs'.*strided"):
        ring.publish(0, dict(state, agent_needs=np.asfortranarray(state["agent_needs"])))
    with pytest.raises(SchemaError, match="'agent_alive': expected"):
        ring.publish(0, dict(state, agent_alive=state["agent_alive"][:-1]))
    with pytest.raises(SchemaError, match="'evt_len': 100000 events outside"):
        ring.publish(0, dict(state, evt_len=np.array([100000], np.int32)))
    with pytest.raises(SchemaError, match="'evt_len' is missing"):
        ring.publish(0, {k: v for k, v in state.items() if k != "evt_len"})
    assert ring.frames_published == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"config_id": "x" * 65}, "at most 64"),
    ({"config_id": "é"}, "ascii"),
    ({"ticks_per_day": 0}, "ticks_per_day"),
    ({"slots": 1}, "slots"),
])
def test_ring_arguments_are_checked(state, kwargs, message):
    args = {"config_id": "c", "ticks_per_day": 10, "doorbell": None} | kwargs
    with pytest.raises((ValueError, UnicodeEncodeError), match=message):
        FrameRing.from_sections(state, **args)


def test_bad_doorbell_address_leaves_no_segment(state):
    import pynng

    with pytest.raises(pynng.NNGException):
        FrameRing.from_sections(state, config_id="c", ticks_per_day=10, doorbell="bogus://x")


def test_frames_are_read_only_copies_and_the_world_is_untouched(ring, state):
    rng = np.random.default_rng(0)
    step(state, rng, 7, 0.3)
    before = {k: v.copy() for k, v in state.items()}
    ring.publish(7, state)
    with FrameReader(ring.name, ring.schema) as reader:
        frame = reader.read_latest()
        for name, arr in frame.columns.items():
            assert not arr.flags.writeable, name
            with pytest.raises(ValueError, match="read-only"):
                arr[...] = 0
            with pytest.raises(ValueError, match="WRITEABLE"):
                arr.flags.writeable = True
        with pytest.raises(ValueError, match="read-only"):
            frame.events["value"] = 1.0
        with pytest.raises(TypeError):
            frame.columns["agent_x"] = np.zeros(3)  # the mapping itself is immutable
        for name, arr in before.items():
            assert np.array_equal(state[name], arr), f"world section {name} changed"
        assert frame.tick == 7 and frame.config_id == "cfg-42"
        assert frame.columns["tick_of_day"][0] == 7 and frame.columns["ticks_per_day"][0] == 100
        assert frame.columns["n_alive"][0] == np.count_nonzero(state["agent_alive"])
        for name in STATE_COLUMNS:
            assert np.array_equal(frame.columns[name], state[name])
        n = int(state["evt_len"][0])
        assert frame.n_events == n and frame.events.size == n
        assert np.array_equal(frame.events["code"], state["evt_code"][:n])
        assert (frame.events["tick"] == 7).all()
        # frame_hash over the writer's own columns equals the copy's hash
        cols = {name: state[name] for name in STATE_COLUMNS}
        cols |= {c: state[s][:n] for c, s in EVENT_COLUMNS}
        cols |= {name: frame.columns[name].copy() for name, _ in META_COLUMNS}
        assert frame_hash(cols, ring.schema) == frame.hash()
        cols["agent_x"] = cols["agent_x"] + 1
        assert frame_hash(cols, ring.schema) != frame.hash()


def test_frames_every_k_ticks_log_every_event(state):
    """every=4: frames only on multiples of 4, the events of every tick in the event log,
    and ``flush`` adds the frame of a last tick that had none (once)."""
    rng = np.random.default_rng(1)
    with FrameRing.from_sections(state, config_id="k", ticks_per_day=100, doorbell=None,
                                 every=4) as ring, FrameReader(ring.name, ring.schema) as reader:
        logged = []
        for tick in range(1, 11):
            step(state, rng, tick, 0.3)
            n = int(state["evt_len"][0])
            logged += [(tick, int(c)) for c in state["evt_code"][:n]]
            frame = ring.publish(tick, state)
            assert (frame > 0) == (tick % 4 == 0)
        assert ring.frames_published == 2 and reader.read_latest().tick == 8
        records, lost = reader.read_events(0, reader.events_head())
        assert lost == 0 and [(int(t), int(c)) for t, c in records[["tick", "code"]]] == logged
        assert ring.flush(10, state) == 3 and ring.flush(10, state) == 0
        last = reader.read_latest()
        assert last.tick == 10 and np.array_equal(last.columns["agent_x"], state["agent_x"])
        assert np.array_equal(last.events["code"], state["evt_code"][:int(state["evt_len"][0])])
    with pytest.raises(ValueError, match="every must be >= 1"):
        FrameRing.from_sections(state, config_id="k", ticks_per_day=100, doorbell=None, every=0)


def test_reader_rejects_another_schema(ring):
    other = FrameSchema.from_sections(make_state(10, seed=0))
    from townlet.frames.ring import SchemaMismatch

    with pytest.raises(SchemaMismatch):
        FrameReader(ring.name, other)


WRITER = textwrap.dedent("""
    import signal, sys, time
    # A process started from a shell's background job (a test run with ``&``) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler: restore the
    # handler an interactive run has, which the SIGINT case tests.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, sys.argv[1])
    from telemetry_writer import make_state
    from townlet.frames.writer import FrameRing
    from townlet.ops.logging import configure_logging
    configure_logging(json=True)  # logs (e.g. stale files removed) to stderr: stdout is ours
    st = make_state(50, seed=1)
    ring = FrameRing.from_sections(st, config_id="life", ticks_per_day=10, doorbell=None)
    ring.publish(0, st)
    print(ring.name, flush=True)
    sys.stdin.readline()
    mode = sys.argv[2]
    if mode == "exit":
        sys.exit(0)
    if mode == "raise":
        raise RuntimeError("boom")
    if mode == "fork":  # a forked child exiting normally must not unlink its parent's ring
        import os
        pid = os.fork()
        if pid == 0:
            sys.exit(0)
        os.waitpid(pid, 0)
        from townlet.frames import shm
        assert ring.name in shm.list_segments(), "the child unlinked the parent's ring"
        sys.exit(0)
    print("looping", flush=True)
    while True:
        time.sleep(0.05)
""")


def _writer(mode: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(ROOT / "tests"), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE)
    name = proc.stdout.readline().decode().strip()
    assert name.startswith("/townlet-"), proc.stderr.read().decode()
    assert name in shm.list_segments()
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    return proc, name


@pytest.mark.parametrize("mode, sig, status", [
    ("exit", None, 0),
    ("raise", None, 1),
    ("fork", None, 0),
    ("loop", signal.SIGTERM, -signal.SIGTERM),
    ("loop", signal.SIGINT, -signal.SIGINT),  # KeyboardInterrupt unwinds to the exit hook
])
def test_segment_is_unlinked_on_exit_and_signals(mode, sig, status):
    proc, name = _writer(mode)
    try:
        if sig is not None:
            assert proc.stdout.readline() == b"looping\n"  # it reached its loop
            proc.send_signal(sig)
        assert proc.wait(60) == status
    finally:
        if proc.poll() is None:  # a failed wait must not leave a looping writer behind
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode()
    assert name not in shm.list_segments()
    assert "resource_tracker" not in err and "leaked" not in err


def test_stale_segment_of_a_killed_writer_is_removed_at_next_start(state):
    proc, name = _writer("loop")
    live, live_name = _writer("loop")
    proc.send_signal(signal.SIGKILL)
    proc.wait(20)
    assert name in shm.list_segments()  # SIGKILL leaves it behind ...
    ring = FrameRing.from_sections(state, config_id="c", ticks_per_day=10, doorbell=None)
    try:
        # ... and the next writer removes it (a concurrent test run on the host may
        # have been first: then it is gone all the same)
        assert name not in shm.list_segments()
        assert live_name in shm.list_segments()  # a live writer's segment is left alone
    finally:
        ring.close()
        live.terminate()
        live.wait(20)
    assert live_name not in shm.list_segments()


def test_half_created_segment_of_a_dead_pid_is_stale(tmp_path):
    """A segment without a valid header (creation interrupted) is judged by the pid in its name."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = shm.SHM_DIR / f"{shm.PREFIX}{dead.pid}-deadbeef"
    path.write_bytes(b"\0" * 100)
    alive = shm.SHM_DIR / f"{shm.PREFIX}{os.getpid()}-0badf00d"
    alive.write_bytes(b"\0" * 100)
    try:
        removed = shm.cleanup_stale()
        assert not path.exists()  # removed here (or by a concurrent run's cleanup)
        assert "/" + alive.name not in removed and alive.exists()
    finally:
        path.unlink(missing_ok=True)
        alive.unlink(missing_ok=True)


def test_process_starttime_identifies_processes():
    me = shm.process_starttime(os.getpid())
    assert me is not None and shm.writer_alive(os.getpid(), me)
    assert not shm.writer_alive(os.getpid(), me + 1)  # a recycled pid is not the writer
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    time.sleep(0.05)
    assert shm.process_starttime(dead.pid) is None


def test_static_columns_are_copied_once_per_slot_and_array(state):
    """Issue 12: the static object columns reach a ring slot the first time the slot is
    used with those arrays, never again; every frame read back still holds them exactly,
    and new arrays (a snapshot load replaces the world's arrays) reach every slot."""
    rng = np.random.default_rng(4)
    schema = FrameSchema.from_sections(state)
    static = sum(schema.by_name[n].nbytes for n in STATIC_COLUMNS)
    meta_end = max(c.offset + c.nbytes for c in schema.columns if c.role == "meta")
    plain = meta_end + sum(c.nbytes for c in schema.columns
                           if c.role != "meta" and c.name not in STATIC_COLUMNS)
    with FrameRing.from_sections(state, config_id="s", ticks_per_day=100, doorbell=None,
                                 slots=3) as ring, FrameReader(ring.name, ring.schema) as reader:
        static_copied = []
        for tick in range(1, 13):
            if tick == 7:
                for name in STATIC_COLUMNS:
                    state[name] = (state[name] + 1).astype(state[name].dtype)
            step(state, rng, tick, 0.3)
            before = ring.bytes_written
            ring.publish(tick, state)
            events = sum(nb for _, _, nb in schema.event_layout(int(state["evt_len"][0])))
            static_copied.append((ring.bytes_written - before - plain - events) / static)
            frame = reader.read_latest()
            assert frame.tick == tick
            for name in STATE_COLUMNS:
                assert np.array_equal(frame.columns[name], state[name]), (tick, name)
    assert static_copied == [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0]


def test_the_world_never_changes_static_columns_in_place():
    """What the writer's once-per-slot copy relies on: a running town (perturbations on)
    keeps its static columns' arrays and their contents; they are exactly the frame's
    part of the world's layout (``TOWN_FIELDS``: the agents' jobs too, issue 12)."""
    from townlet.config import default_config, with_agents
    from townlet.world import World
    from townlet.world.state import TOWN_FIELDS

    assert set(STATIC_COLUMNS) == set(STATE_COLUMNS) & set(TOWN_FIELDS)

    world = World(with_agents(default_config(), 60), seed=3)
    arrays = {name: world.sections()[name] for name in STATIC_COLUMNS}
    before = {name: a.copy() for name, a in arrays.items()}
    for _ in range(400):
        world.step()
    for name in STATIC_COLUMNS:
        assert world.sections()[name] is arrays[name]
        assert np.array_equal(arrays[name], before[name]), name
