"""An agent's ties are one aligned record (``townlet.world.state.TIES``): the four tie
arrays are views of it in a new world, after a load and in an autosave's frame, while
hashes and snapshots see the same columns as before."""

from __future__ import annotations

import numpy as np
import pytest

from tests.worlds import small_world
from townlet.snapshots.capture import new_frame
from townlet.world.state import RECORD_ALIGN, TIES, State, kernel_state, ties_record


def _ticked(agents: int = 60, ticks: int = 200):
    w = small_world(agents=agents)
    for _ in range(ticks):
        w.step()
    return w


def _assert_one_record(arrays) -> None:
    record = ties_record(arrays)
    n, k = arrays[TIES[0]].shape
    assert record.shape == (n, len(TIES), k) and record.ctypes.data % RECORD_ALIGN == 0
    assert record.strides[0] == len(TIES) * k * 4
    for c, name in enumerate(TIES):
        assert np.shares_memory(arrays[name], record)
        assert np.array_equal(record[:, c, :].view(arrays[name].dtype), arrays[name],
                              equal_nan=True), name


def test_a_world_keeps_each_agents_ties_in_one_aligned_record_as_it_ticks():
    w = _ticked()
    sections = w.sections()
    assert (sections["rel_other"] >= 0).any()  # ties were made and are in the record
    _assert_one_record(sections)


def test_a_load_of_plain_arrays_packs_the_ties_and_keeps_values_and_hash():
    """What a snapshot of any schema gives (one contiguous array per section) loads into
    the record; the state hash is over the columns, so it does not move."""
    w = _ticked()
    plain = {k: np.array(v) for k, v in w.sections().items()}
    before = w.state_hash()
    w.load_sections(plain)
    sections = w.sections()
    _assert_one_record(sections)
    for name in TIES:
        assert np.array_equal(sections[name], plain[name])
        assert not np.shares_memory(sections[name], plain[name])
    assert w.state_hash() == before
    w.step()  # the kernel takes the loaded state


def test_an_autosave_frame_gets_its_own_record():
    w = _ticked(ticks=30)
    frame = new_frame(w.sections(), None)
    _assert_one_record(frame)
    assert not np.shares_memory(ties_record(frame), ties_record(w.sections()))
    assert new_frame(w.sections(), frame)[TIES[0]] is frame[TIES[0]]  # handed back: reused


@pytest.mark.parametrize("split", [
    "copies",  # four contiguous arrays (what the layout was before)
    "shuffled",  # views of one record, in another order
])
def test_the_kernel_refuses_ties_that_are_not_one_record(split):
    w = small_world(agents=12)
    sections = dict(w.sections())
    if split == "copies":
        sections.update({name: np.array(sections[name]) for name in TIES})
    else:
        sections["rel_trust"], sections["rel_fam"] = sections["rel_fam"], sections["rel_trust"]
    with pytest.raises(ValueError, match="not one record per agent"):
        ties_record(sections)
    with pytest.raises(ValueError, match="build the state with allocate or state_from"):
        kernel_state(State(**sections))
