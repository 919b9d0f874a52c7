"""The dashboard names coded frame values from the stream's own vocabulary (frame schema
2.2+), which the frame writer builds from the world's enums: the UI keeps no copy."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

pytest.importorskip("textual", reason="needs the ui extra")

from townlet.config import default_config, with_agents
from townlet.frames.schema import STATE_COLUMNS, FrameSchema, SchemaDoc
from townlet.ui.agent_query import QueryError, agent_rows
from townlet.ui.frame import digest
from townlet.ui.vocab import Names
from townlet.world import World
from townlet.world.actions import Action, Goal, Shift
from townlet.world.events import EventCode
from townlet.world.state import STAT


@pytest.fixture(scope="module")
def world():
    w = World(with_agents(default_config(), 200), seed=1)
    for _ in range(20):
        w.step()
    return w


def _cols(w: World) -> dict[str, np.ndarray]:
    sec = w.sections()
    out = {name: np.array(sec[name]) for name in STATE_COLUMNS}
    out.update(tick=np.array([w.tick], np.int64), tick_of_day=np.array([w.tick], np.int32),
               ticks_per_day=np.array([1440], np.int32))
    return out


def test_the_schema_names_every_code_as_the_world_does(world):
    vocab = FrameSchema.from_sections(world.sections()).doc.vocab
    assert vocab["agent_goal"] == [g.name.lower() for g in sorted(Goal)]
    assert vocab["agent_shift"] == [s.name.lower() for s in sorted(Shift)]
    assert vocab["agent_action"] == [a.name.lower() for a in sorted(Action) if a >= 0]
    assert vocab["code"] == ["", *(c.name.lower() for c in sorted(EventCode))]
    assert vocab["stats"] == list(STAT)
    names = Names(vocab)
    assert names.of("code", int(EventCode.AGENT_DIED)) == "agent_died"
    assert names.of("code", 0) == "0" and names.of("code", 999) == "999"


def test_a_document_without_names_hashes_as_a_2_1_document(world):
    doc = FrameSchema.from_sections(world.sections()).doc
    old = SchemaDoc("2.1.0", doc.columns, doc.events)
    assert b"vocab" not in msgspec.json.encode(old)  # a 2.1 stream's schema_hash still checks
    assert FrameSchema.from_json(msgspec.json.encode(doc)).doc.vocab == doc.vocab
    too_long = msgspec.json.encode(msgspec.structs.replace(doc, vocab={"agent_goal": ["x" * 65]}))
    with pytest.raises(ValueError, match="bad schema document"):
        FrameSchema.from_json(too_long)


def test_the_ui_shows_the_streams_names_and_numbers_without_them(world):
    cols = _cols(world)
    vocab = FrameSchema.from_sections(world.sections()).doc.vocab
    renamed = Names({**vocab, "agent_goal": [f"g{i}" for i in range(len(vocab["agent_goal"]))],
                     "agent_shift": [f"s_{n}" for n in vocab["agent_shift"]]})
    d = digest(cols, renamed)
    assert d.shifts and all(k.startswith("s_") for k in d.shifts)  # the stream's names
    assert set(d.stats) == set(STAT)
    work = int(Goal.WORK)
    total, _ = agent_rows(cols, f"goal=g{work}", names=renamed)
    assert total == int(((cols["agent_goal"] == work) & (cols["agent_alive"] != 0)).sum())
    with pytest.raises(QueryError, match="goal wants a number or one of g0"):
        agent_rows(cols, "goal=work", names=renamed)
    bare = digest(cols)  # a 2.1 stream: numbers, and no lateness it cannot name
    assert all(k.isdigit() for k in bare.shifts) and all(late == 0 for _, late in
                                                          bare.jobs.values())
    with pytest.raises(QueryError, match="goal wants a number, got 'work'"):
        agent_rows(cols, "goal=work")
