"""Change marks (townlet.world.marks): a frame copied by changed blocks is byte for byte
the frame a full copy writes, on real shared-memory rings, whatever wrote the state."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
from telemetry_helpers import no_shm_leak  # noqa: F401 - autouse fixture

from townlet.config import default_config, with_agents
from townlet.frames import FrameReader, FrameRing
from townlet.world import World
from townlet.world.marks import MARKED
from townlet.world.state import MARK_MEMBERS, St

ROOT = Path(__file__).resolve().parent.parent


class _Pair:
    """A ring copying by marks and a full-copy ring (``marks=None``) over one world, with
    a reader each: :meth:`check` writes a frame to both and compares their bytes."""

    def __init__(self, world: World, cfg, slots: int) -> None:
        self.world = world
        self.marked = FrameRing.for_world(world, cfg, doorbell=None, every=1, slots=slots)
        self.full = FrameRing.for_world(world, cfg, doorbell=None, every=1, slots=slots,
                                        marks=None)
        self.readers = [FrameReader(r.name, r.schema) for r in (self.marked, self.full)]
        self.bufs = [bytearray(self.marked.schema.capacity) for _ in range(2)]
        self.frames = 0

    def check(self, what: str) -> tuple[int, int]:
        """Write this tick's frame to both rings; assert equal bytes; return the bytes
        each ring copied for it (marked, full)."""
        before = (self.marked.bytes_written, self.full.bytes_written)
        got = []
        for ring, reader, buf in zip((self.marked, self.full), self.readers, self.bufs,
                                     strict=True):
            number = ring.publish(self.world.tick, self.world.sections())
            _, nbytes = reader.read_into(number, buf)
            got.append(bytes(buf[:nbytes]))
        assert got[0] == got[1], f"{what}: the marked frame differs from a full copy"
        self.frames += 1
        return (self.marked.bytes_written - before[0], self.full.bytes_written - before[1])

    def close(self) -> None:
        for reader in self.readers:
            reader.close()
        self.marked.close()
        self.full.close()


def test_every_frame_of_a_day_with_interventions_a_load_and_wraps_equals_a_full_copy():
    """5,000 agents from midnight past noon (shift starts and ends, wages), with a
    possession, a kill, a spawn, a teleport, a disabled object, an employment exit and
    starving agents, then a snapshot load that rewinds 400 ticks (to before the kill),
    and on to 21:40; a 3-slot ring, so every slot is rewritten every third frame."""
    cfg = with_agents(default_config(), 5000)
    world = World(cfg, seed=4)
    pair = _Pair(world, cfg, slots=3)
    saved: dict[str, np.ndarray] | None = None
    starving = list(range(100, 4100, 200))  # one agent in every block of the u1 columns
    copied = full = 0
    try:
        for n in range(1, 1701):
            world.step()
            if n == 60:
                world.possess(7)
            elif n == 90:
                world.release(7)
            elif n == 300:
                world.kill(11)
                world.spawn()
                world.teleport(13, *map(int, (world.view("agent_x")[3000],
                                              world.view("agent_y")[3000])))
                world.set_object_enabled(int(np.flatnonzero(world.view("obj_type") >= 0)[50]),
                                         False)
                world.employment_exit(int(np.flatnonzero(world.view("agent_job") >= 0)[5]))
            elif n == 150:
                saved = {k: a.copy() for k, a in world.sections().items()}
            elif n == 550:
                assert saved is not None and world.view("stats")[St.KILLS] == 1
                world.load_sections(saved)  # back to tick 150
            if 200 <= n < 550:
                for i in starving:
                    if world.view("agent_alive")[i]:
                        world.set_need(i, "hunger", 0.0)
            m, f = pair.check(f"step {n}, tick {world.tick}")
            copied += m
            full += f
        stats = world.view("stats")
        assert world.tick == 1300 and stats[St.KILLS] == 0  # the kill was rewound away
    finally:
        pair.close()
    assert copied < 0.8 * full  # the marks left blocks out


def test_starvation_deaths_and_respawns_are_copied_exactly():
    """The kernel's own removals and arrivals (``remove``, ``arrive``) write alive, gen,
    wallet, flags and shift through the marks."""
    cfg = with_agents(default_config(), 3000)
    world = World(cfg, seed=5)
    pair = _Pair(world, cfg, slots=2)
    starving = list(range(0, 3000, 97))
    try:
        for n in range(1, 400):
            for i in starving:
                if world.view("agent_alive")[i] and world.view("agent_gen")[i] == 1:
                    world.set_need(i, "hunger", 0.0)
            world.step()
            pair.check(f"tick {world.tick}")
        stats = world.view("stats")
        assert stats[St.DEATHS] > 0 and stats[St.RESPAWNS] > 0
    finally:
        pair.close()


def test_a_write_from_python_is_copied_only_because_it_touches_the_marks():
    """Frames written again on the same tick copy none of the marked blocks; a possession,
    a release and a state load (Python writes, no kernel stamp) must still reach the next
    frame of every slot. Without their ``touch_marks`` / ``Marks.cover`` the marked ring
    keeps the old bytes and this fails."""
    cfg = with_agents(default_config(), 600)
    world = World(cfg, seed=1)
    pair = _Pair(world, cfg, slots=2)
    marked_bytes = sum(world.view(name).nbytes for name in MARKED)
    try:
        world.step()
        for _ in range(2):  # both slots hold this tick's frame
            pair.check("first frames")
        m, f = pair.check("unchanged")
        assert f - m == marked_bytes  # nothing marked since: no marked block copied
        for what, write in (("possess", lambda: world.possess(5)),
                            ("release", lambda: world.release(5))):
            write()
            for _ in range(2):
                pair.check(what)
        loaded = {k: a.copy() for k, a in world.sections().items()}
        loaded["agent_wallet"][::7] += 3
        loaded["obj_stock"][::5] += 1
        world.load_sections(loaded)
        for _ in range(2):
            m, f = pair.check("load")
            assert m == f  # every block copied once per slot after a load
        world.touch_marks()
        m, f = pair.check("touched")
        assert m == f
    finally:
        pair.close()


def test_sections_the_marks_do_not_describe_are_copied_whole():
    """A ring made for one world and handed another's sections (or a world's sections
    after its marks moved on) copies every block: marks describe their own arrays only."""
    cfg = with_agents(default_config(), 300)
    a, b = World(cfg, seed=1), World(cfg, seed=2)
    ring = FrameRing.for_world(a, cfg, doorbell=None, every=1, slots=2)
    try:
        with FrameReader(ring.name, ring.schema) as reader:
            for world in (a, b, a, b):
                world.step()
                frame = reader.read(ring.publish(world.tick, world.sections()))
                for name in MARKED:
                    assert np.array_equal(frame.columns[name], world.view(name)), name
    finally:
        ring.close()


def test_marks_are_not_state():
    """Neither sections nor the state hash hold the marks: a town whose frames are
    written ends in the same state as one without a ring."""
    cfg = with_agents(default_config(), 300)
    a, b = World(cfg, seed=3), World(cfg, seed=3)
    assert not set(MARK_MEMBERS) & set(a.sections())
    ring = FrameRing.for_world(a, cfg, doorbell=None, every=1, slots=2)
    try:
        for _ in range(30):
            a.step()
            b.step()
            ring.publish(a.tick, a.sections())
    finally:
        ring.close()
    assert a.frame_marks is not None and a.frame_marks.now[0] == 30
    assert a.state_hash() == b.state_hash()


_STORE = re.compile(r"\b(" + "|".join(MARKED) + r")\b(\[[^\]]*\])?\s*([-+|&^]?=)(?!=)|\b("
                    + "|".join(MARKED) + r")\b\.fill\(")


def test_every_store_to_a_marked_column_stamps_or_touches_the_marks():
    """In townlet/, a marked column is written only through ``put`` (kernel) or in a
    function that calls ``touch_marks`` (Python): a new plain store would leave frames
    with stale bytes."""
    bad = []
    for path in sorted((ROOT / "townlet").rglob("*.py")):
        text = path.read_text()
        if not _STORE.search(text) or path.name in ("marks.py", "migration_steps.py"):
            continue  # migration steps rewrite a snapshot's sections before any load
        tree = ast.parse(text)
        functions = [node for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not _STORE.search(line) or line.lstrip().startswith(("#", '"')):
                continue
            owner = [f for f in functions if f.lineno <= lineno <= (f.end_lineno or 0)]
            body = ast.get_source_segment(text, owner[-1]) if owner else ""
            if "touch_marks()" not in (body or ""):
                bad.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not bad, "stores to marked columns outside put:\n" + "\n".join(bad)
