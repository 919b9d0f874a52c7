"""What makes a frame cheap on the simulation thread (issue 12): the world hands out one
read-only sections mapping until its arrays are replaced, and the event log's records
are assembled by one C call from the event columns, with the same bytes as before."""

from __future__ import annotations

import numpy as np
import pytest
from telemetry_helpers import no_shm_leak  # noqa: F401 - autouse fixture
from telemetry_writer import make_state, step
from townlet._core import ffi, lib

from townlet.config import default_config, with_agents
from townlet.frames import FrameReader, FrameRing
from townlet.frames.ring import RingError, RingHandle, check
from townlet.frames.schema import EVENT_COLUMNS, STATE_COLUMNS, SchemaError
from townlet.frames.shm import new_ring_name
from townlet.world import World


def test_world_sections_are_one_mapping_until_the_arrays_are_replaced():
    world = World(with_agents(default_config(), 60), seed=2)
    first = world.sections()
    world.step()
    assert world.sections() is first  # not rebuilt per call
    with pytest.raises(TypeError):
        first["agent_x"] = np.zeros(60, np.int16)  # shared, so nobody may rebind a name
    changed = {name: a.copy() for name, a in first.items()}
    changed["agent_wallet"] += 7
    world.load_sections(changed)  # a snapshot load: every array replaced
    now = world.sections()
    assert now is not first and now is world.sections()
    for name, a in now.items():
        assert a is not first[name], name
        assert np.shares_memory(a, world.view(name)), f"{name} is not the live array"
    assert np.array_equal(now["agent_wallet"], first["agent_wallet"] + 7)


def test_frames_follow_a_state_load_through_the_cached_mapping():
    """The hook's way: ``publish(world.tick, world.sections())`` every tick; after a load the
    frame holds the loaded arrays, static columns included."""
    cfg = with_agents(default_config(), 60)
    world = World(cfg, seed=2)
    with FrameRing.for_world(world, cfg, doorbell=None, every=1, slots=2) as ring, \
            FrameReader(ring.name, ring.schema) as reader:
        for _ in range(3):
            world.step()
            ring.publish(world.tick, world.sections())
        loaded = {name: a.copy() for name, a in world.sections().items()}
        loaded["agent_wallet"] += 11
        loaded["obj_x"][0] += 1  # a static column, as another town's snapshot would differ
        world.load_sections(loaded)
        for _ in range(3):  # both slots get the new static arrays
            world.step()
            ring.publish(world.tick, world.sections())
            frame = reader.read_latest()
            for name in STATE_COLUMNS:
                assert np.array_equal(frame.columns[name], world.view(name)), name
        assert frame.columns["obj_x"][0] == loaded["obj_x"][0]


def test_event_records_are_assembled_from_columns_across_the_wrap():
    """``tr_events_append_fields``: a shared tick (stride 0) and the event columns give the
    same records as packing them in numpy, across the log's wrap; widths that do not add
    up to the record size are refused."""
    state = make_state(40, seed=1)
    record = np.dtype([("tick", "<i8")] + [(c, state[s].dtype) for c, s in EVENT_COLUMNS])
    cols = [state[s] for _, s in EVENT_COLUMNS]
    name = new_ring_name()
    ring = RingHandle.create(name, b"{}", 2, 64, 0, 0, record.itemsize, 7)
    try:
        tick = ffi.new("int64_t[1]")
        keep = [ffi.from_buffer(c) for c in cols]
        ptrs = ffi.new("const void *[]", [tick, *keep])
        widths = ffi.new("uint32_t[]", [8] + [c.dtype.itemsize for c in cols])
        strides = ffi.new("uint64_t[]", [0] + [c.dtype.itemsize for c in cols])
        want = []
        rng = np.random.default_rng(3)
        for t in range(1, 5):  # 3 + 2 + 3 + 2 records into a log of 7: it wraps
            k = 3 if t % 2 else 2
            for c in cols:
                c[:k] = rng.integers(0, 1000, k).astype(c.dtype)
            tick[0] = t
            check(lib.tr_events_append_fields(ring.ptr, k, len(cols) + 1, ptrs, widths,
                                              strides), "append")
            packed = np.zeros(k, record)
            packed["tick"] = t
            for (col, _), c in zip(EVENT_COLUMNS, cols, strict=True):
                packed[col] = c[:k]
            want.append(packed)
        want_all = np.concatenate(want)
        got = np.zeros(7, record)
        first = ffi.new("uint64_t *")
        check(lib.tr_events_read(ring.ptr, 3, 7, ffi.from_buffer(got), first), "read")
        assert first[0] == 3
        assert got.tobytes() == want_all[3:].tobytes()
        widths[1] += 1
        with pytest.raises(RingError, match="invalid argument"):
            check(lib.tr_events_append_fields(ring.ptr, 1, len(cols) + 1, ptrs, widths,
                                              strides), "append")
    finally:
        ring.close()
        lib.tr_unlink(name.encode())


def test_flush_writes_the_events_as_logged_after_an_intervention_reused_the_buffers():
    state = make_state(100, seed=4)
    rng = np.random.default_rng(5)
    with FrameRing.from_sections(state, config_id="f", ticks_per_day=100, doorbell=None,
                                 every=4) as ring, FrameReader(ring.name, ring.schema) as reader:
        for tick in range(1, 7):
            step(state, rng, tick, 0.3)
            ring.publish(tick, state)
        n = int(state["evt_len"][0])
        logged = {c: state[s][:n].copy() for c, s in EVENT_COLUMNS}
        state["evt_len"][0] = 3  # an intervention after tick 6 starts a new batch ...
        for _, s in EVENT_COLUMNS:
            state[s][:] = 0  # ... in the same buffers
        assert ring.flush(6, state) > 0
        last = reader.read_latest()
        assert last.tick == 6 and last.n_events == n
        for col, values in logged.items():
            assert np.array_equal(last.events[col], values), col
        step(state, rng, 7, 0.3)
        ring.publish(7, state)  # later ticks log the live buffers again
        k = int(state["evt_len"][0])
        records, _ = reader.read_events(reader.events_head() - k, reader.events_head())
        assert np.array_equal(records["code"], state["evt_code"][:k])


def test_the_ring_lays_out_the_event_columns_for_any_event_count():
    """Issue 12: one C call (``tr_publish_columns``) lays a frame's event columns out after
    its fixed part, so the writer keeps no layout per event count: frames with none, one,
    an odd number and the full capacity of events read back with the schema's layout and
    size, the meta counts included; columns beyond the slot are refused."""
    state = make_state(50, seed=6)
    rng = np.random.default_rng(6)
    with FrameRing.from_sections(state, config_id="l", ticks_per_day=100, doorbell=None,
                                 every=1) as ring, FrameReader(ring.name, ring.schema) as reader:
        cap = ring.schema.event_capacity
        for tick, n in enumerate([0, 1, 7, cap, 3], start=1):
            step(state, rng, tick, 0.3)
            state["evt_len"][0] = n
            for _, sec in EVENT_COLUMNS:
                state[sec][:] = rng.integers(-50, 50, cap).astype(state[sec].dtype)
            ring.publish(tick, state)
            frame = reader.read_latest()
            raw = np.zeros(ring.schema.capacity, np.uint8)
            reader.read_into(frame.number, raw)
            assert frame.nbytes == ring.schema.frame_nbytes(n)
            assert frame.n_events == n
            assert frame.columns["n_alive"][0] == np.count_nonzero(state["agent_alive"])
            for (col, sec), (spec, off, nb) in zip(EVENT_COLUMNS, ring.schema.event_layout(n),
                                                   strict=True):
                assert spec.name == col
                assert np.array_equal(frame.events[col], state[sec][:n]), (n, col)
                assert raw[off:off + nb].tobytes() == state[sec][:n].tobytes(), (n, col)
        cols = [ffi.from_buffer(state[sec]) for _, sec in EVENT_COLUMNS]
        rc = lib.tr_publish_columns(ring._rp, 9, ring.schema.fixed_nbytes, 0, ffi.NULL,
                                    ffi.NULL, ffi.NULL, len(cols), cols,
                                    [state[sec].dtype.itemsize for _, sec in EVENT_COLUMNS],
                                    10 * cap)
        assert rc == lib.TR_ETOOBIG
        assert reader.latest() == 5


@pytest.mark.parametrize("every", [1, 4])
def test_the_event_count_is_checked_before_the_tick_is_logged(every):
    """The event count is read by the C call of the tick (``tf_tick``), so its section is
    checked like the others: a wrong dtype or shape names it, a count out of range is
    refused, on ticks with and without a frame, and nothing reaches the ring."""
    state = make_state(30, seed=7)
    with FrameRing.from_sections(state, config_id="c", ticks_per_day=100, doorbell=None,
                                 every=every) as ring, FrameReader(ring.name, ring.schema) as reader:
        for tick in (3, 4):  # tick 4 has a frame either way, tick 3 only with every=1
            with pytest.raises(SchemaError, match="'evt_len': expected contiguous <i4"):
                ring.publish(tick, dict(state, evt_len=state["evt_len"].astype(np.int64)))
            with pytest.raises(SchemaError, match="'evt_len': expected contiguous <i4"):
                ring.publish(tick, dict(state, evt_len=np.zeros(2, np.int32)))
            with pytest.raises(SchemaError, match="'evt_len': -1 events outside"):
                ring.publish(tick, dict(state, evt_len=np.array([-1], np.int32)))
        assert ring.frames_published == 0 and reader.latest() == 0
        assert reader.events_head() == 0
        ring.publish(4, state)  # the world's own sections still work after the refusals
        assert reader.read_latest().n_events == int(state["evt_len"][0])
        assert reader.events_head() == int(state["evt_len"][0])


@pytest.mark.parametrize("agents", [1, 15, 16, 17, 4080, 4081, 8161])
def test_n_alive_counts_every_nonzero_byte_of_agent_alive(agents):
    """``tf_tick`` counts ``n_alive`` in byte-wide counters summed every 255 blocks of 16:
    sizes around a block and a run of blocks, with every byte, no byte or some bytes
    nonzero (any value counts) give numpy's count; a counter taking a 256th add would
    wrap to zero in the all-nonzero frames."""
    state = make_state(agents, seed=8)
    rng = np.random.default_rng(8)
    fills = [np.full(agents, 255, np.uint8), np.zeros(agents, np.uint8),
             rng.choice(np.array([0, 1, 2, 128, 255], np.uint8), agents)]
    with FrameRing.from_sections(state, config_id="n", ticks_per_day=100, doorbell=None,
                                 every=1) as ring, FrameReader(ring.name, ring.schema) as reader:
        for tick, alive in enumerate(fills, start=1):
            state["agent_alive"][:] = alive
            ring.publish(tick, state)
            assert reader.read_latest().columns["n_alive"][0] == np.count_nonzero(alive)
