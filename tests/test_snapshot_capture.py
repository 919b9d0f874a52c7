"""The autosave's capture (townlet.snapshots.capture): the frame equals a stop-the-world
copy at every tick, whatever wrote the state; a restored autosave runs on exactly; a
process killed while autosaving never leaves a file under an autosave's name that is not
a complete, correct snapshot."""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import numba
import numpy as np
import pytest

from townlet.config import TownletConfig, default_config, dump_config, with_agents, with_settings
from townlet.snapshots import capture, open_snapshot
from townlet.snapshots.autosave import autosave_name
from townlet.snapshots.temps import list_temps
from townlet.snapshots.world_io import (
    AutosaveHook,
    autosave_hook,
    capture_world,
    load_into,
    resume_world,
    save_world,
)
from townlet.world import World
from townlet.world.ahead import Ahead
from townlet.world.derived import DERIVED
from townlet.world.jit import INTERPRETED
from townlet.world.state import AHEAD_FIELDS, TOWN_FIELDS, St


def config(root: Path, agents: int, every: int = 1) -> TownletConfig:
    cfg = with_agents(default_config(), agents)
    return msgspec.structs.replace(cfg, snapshots=msgspec.structs.replace(
        cfg.snapshots, root=str(root), autosave_every=every, keep_last=2))


def stir(world: World, t: int) -> None:
    """Interventions that write the sections ticks rarely write, at fixed ticks."""
    alive = np.flatnonzero(world.view("agent_alive"))
    a, b, c = (int(alive[k]) for k in (1, 2, 3))
    if t == 5:
        world.set_spawn_delay(3)
        world.set_relationship(a, b, 0.7, 0.6, 0.1)
        world.force_chat(b, c, 0.9)
        world.perturb("arranged_meet", 40, target=0)
        world.perturb("blackout", 30, target=0)
        world.perturb("price_spike", 25, 1.5)
    if t == 12:
        world.kill(a)
        world.set_need(c, "hunger", 0.0)
        world.set_need(b, "energy", 0.0)
        x, y = int(world.view("agent_x")[alive[5]]), int(world.view("agent_y")[alive[5]])
        world.teleport(int(alive[4]), x, y)
        world.employment_exit(int(alive[6]))
        world.set_object_enabled(int(world.view("agent_bed")[alive[7]]), False)
        world.set_price("cafe_meal", 9.5)
    if t == 20:
        world.spawn()
        world.possess(b)
        world.set_possessed_action(b, 2)


def check_autosaves(hook: AutosaveHook, root: Path,
                    fulls: Mapping[int, Mapping[str, np.ndarray]]) -> int:
    """Assert that the autosave of each tick in ``fulls`` holds exactly its full copy;
    returns how many were checked."""
    assert hook.saver.stats.failed == 0, hook.saver.stats.last_error
    for tick, full in fulls.items():
        snap = open_snapshot(root / autosave_name(tick))
        assert snap.header.tick == tick
        for name, arr in full.items():
            assert np.array_equal(snap.sections[name], arr), (tick, name)
    return len(fulls)


def test_capture_references_the_town_layout_and_copies_the_rest(tmp_path: Path) -> None:
    world = World(config(tmp_path, 300), seed=4)
    for _ in range(30):
        world.step()
    live = world.sections()
    full = {k: v.copy() for k, v in live.items()}
    with ThreadPoolExecutor(1) as helper:
        _, frame = capture_world(world, helper=helper.submit)
        for _ in range(3):  # the helper may still derive; the copy itself is done
            world.step()
        helper.submit(lambda: None).result()  # the helper's later jobs see the whole frame
    for name in TOWN_FIELDS:  # read-only views of the live arrays
        assert np.shares_memory(frame[name], live[name]) and not frame[name].flags.writeable
    for name in set(live) - set(TOWN_FIELDS):
        assert not np.shares_memory(frame[name], live[name]), name
        assert np.array_equal(frame[name], full[name]), name
    assert set(DERIVED) <= set(live) and set(DERIVED).isdisjoint(TOWN_FIELDS)


def test_autosave_equals_a_full_copy_at_every_tick(tmp_path: Path, monkeypatch) -> None:
    """Autosaves every third tick while the town ticks on during each write; deaths,
    respawns, ties, chats, perturbations, teleports, exits, disabled objects, prices,
    possession and a snapshot restore in between; chunks small enough that both threads
    copy every section in many pieces, and blocks of 8 agents copied ahead by the writer
    thread and the tick together."""
    cfg = config(tmp_path, 400, every=3)
    life = msgspec.structs.replace(cfg.world.lifecycle, death_after_ticks=15)
    cfg = msgspec.structs.replace(cfg, world=msgspec.structs.replace(cfg.world, lifecycle=life))
    world = World(cfg, seed=7)
    hook = autosave_hook(cfg)
    assert hook is not None
    root = Path(cfg.snapshots.root)
    fulls: dict[int, dict[str, np.ndarray]] = {}
    checked, restored = 0, False
    monkeypatch.setattr(capture, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(capture, "BLOCK_ROWS", 8)
    monkeypatch.setattr(capture, "BLOCK_BYTES", 64)
    with hook.saver:
        while world.tick < 150:
            stir(world, world.tick)
            if world.tick == 60 and not restored:
                hook.saver.flush()
                load_into(world, autosave_name(57))  # the state goes back 3 ticks
                restored = True
            world.step()
            if hook.saver.due(world.tick):
                hook.saver.flush()  # the previous write ran during the ticks since
                checked += check_autosaves(hook, root, fulls)
                fulls = {world.tick: {k: v.copy() for k, v in world.sections().items()}}
            hook.after(world)
    stats = world.view("stats")
    assert checked >= 45 and restored
    assert stats[St.DEATHS] > 0 and stats[St.RESPAWNS] > 0 and stats[St.SPAWNS] > 0
    assert stats[St.KILLS] > 0 and stats[St.EXITS] > 0 and stats[St.CHATS] > 0
    # a restored autosave runs on exactly
    resumed = resume_world(autosave_name(world.tick), cfg)
    for _ in range(25):
        world.step()
        resumed.step()
    assert resumed.state_hash() == world.state_hash()


def busy_town(root: Path, threads: int = 1) -> TownletConfig:
    """400 agents autosaving after every tick, with two tie slots (a new tie evicts one),
    impatient queues (conflicts) and blackouts, water outages and arranged meetings drawn in every district, often
    and short, by the tick's own scheduler."""
    cfg = with_settings(config(root, 400, every=1), {
        "kernel.threads": threads,
        "world.lifecycle.death_after_ticks": 15,
        "world.relationships.slots": 2,
        "world.queues.patience_ticks": 4,
        "world.perturbations.global_cooldown_ticks": 0,
        "world.perturbations.events": [
            {"name": kind, "kind": kind, "prob_per_day": 200.0, "duration": [2, 7]}
            for kind in ("blackout", "outage", "arranged_meet")],
    }, "test")
    return cfg


def run_checked(world: World, hook: AutosaveHook, ticks: int,
                release: threading.Event | None = None,
                then: Callable[[], None] | None = None) -> int:
    """Step ``world`` with an autosave after every tick and ``stir`` between, checking
    each autosave against a full copy of its tick; ``release`` (if given) is set after
    each step, ``then`` (if given) called after each capture. Returns the autosaves
    checked."""
    root = Path(world.config.snapshots.root)
    fulls: dict[int, dict[str, np.ndarray]] = {}
    checked = 0
    with hook.saver:
        try:
            while world.tick < ticks:
                stir(world, world.tick)
                world.step()
                if release is not None:
                    release.set()
                hook.saver.flush()
                checked += check_autosaves(hook, root, fulls)
                fulls = {world.tick: {k: v.copy() for k, v in world.sections().items()}}
                hook.after(world)
                if then is not None:
                    then()
        finally:  # the last capture's copier may run: nothing steps any more
            if release is not None:
                release.set()
    return checked


@pytest.mark.skipif(INTERPRETED, reason="copy ahead needs compiled kernels")
def test_held_back_copier_leaves_every_row_to_the_tick_and_the_autosave_is_exact(
        tmp_path: Path, monkeypatch) -> None:
    """The writer thread's copier is held back until the tick after its capture has
    ended, and a block is one entry: every row, object, shop, exit-ring place and event
    that tick writes is copied first by the tick's own checks (its slot loop's for its
    own rows, ``guard`` for another agent's, ``guard_in`` for the other groups), so a
    write without a check shows as an autosave that differs from its full copy.
    An autosave after every tick of a town with queues, chats, ties and their
    evictions, deaths, respawns, an exit, a kill, a spawn, a teleport, forced chats and
    scheduled blackouts, outages and meetings starting and ending inside ticks."""
    cfg = busy_town(tmp_path)
    world = World(cfg, seed=7)
    hook = autosave_hook(cfg)
    assert hook is not None
    release, handles, by_tick = hold_back(monkeypatch)
    assert run_checked(world, hook, 90, release) >= 85
    # the tick (its checks, or an intervention's settling) copied every block itself,
    # but for the last capture, which no tick followed
    assert len(by_tick) >= 85 and len({id(a) for a in handles}) < len(handles)  # rearmed
    assert all(inline == size for inline, size in by_tick[:-1])
    stats = world.view("stats")
    assert stats[St.DEATHS] > 0 and stats[St.RESPAWNS] > 0 and stats[St.EXITS] > 0
    assert stats[St.CHATS] > 0 and stats[St.CONFLICTS] > 0 and stats[St.FAILED] > 0
    assert world.view("pert_meta")[0] > 20  # perturbations drawn by the tick's scheduler


def hold_back(monkeypatch) -> tuple[threading.Event, list[Ahead], list[tuple[int, int]]]:
    """Blocks of one entry, and a copier that starts only once the returned event is
    set (after the step that follows its capture): that step's checks copy every block
    it writes. Returns the event, the handle of each capture (a rearmed handle again)
    and, per capture, the blocks the tick had copied itself when its copier started
    and the blocks in all."""
    monkeypatch.setattr(capture, "BLOCK_ROWS", 1)
    monkeypatch.setattr(capture, "BLOCK_BYTES", 1)
    release = threading.Event()
    handles: list[Ahead] = []
    by_tick: list[tuple[int, int]] = []
    copy_ahead = World.copy_ahead

    def held_back(self: World, frame: dict[str, np.ndarray], rows: int,
                  nbytes: int) -> Ahead | None:
        ahead = copy_ahead(self, frame, rows, nbytes)
        assert ahead is not None
        release.clear()

        def run_after_the_tick() -> None:
            release.wait()
            by_tick.append((ahead.copied_by_tick(), ahead.table.size))
            Ahead.run(ahead)

        ahead.run = run_after_the_tick  # type: ignore[method-assign]
        handles.append(ahead)
        return ahead

    monkeypatch.setattr(World, "copy_ahead", held_back)
    return release, handles, by_tick


@pytest.mark.skipif(INTERPRETED, reason="copy ahead needs compiled kernels")
def test_a_closed_autosaver_leaves_no_capture_in_the_world(tmp_path: Path,
                                                           monkeypatch) -> None:
    """While the autosaver lives, its captures rearm one copy-ahead handle into one frame;
    once it closes, neither the world nor the autosaver references that handle or the
    frame's arrays (~470 MB at 1M agents), and the world ticks on."""
    cfg = config(tmp_path, 300, every=2)
    world = World(cfg, seed=5)
    hook = autosave_hook(cfg)
    assert hook is not None
    handles: list[weakref.ref[Ahead]] = []
    buffers: list[weakref.ref[np.ndarray]] = []
    copy_ahead = World.copy_ahead

    def watched(self: World, frame: dict[str, np.ndarray], rows: int,
                nbytes: int) -> Ahead | None:
        ahead = copy_ahead(self, frame, rows, nbytes)
        assert ahead is not None
        handles.append(weakref.ref(ahead))
        buffers.extend(weakref.ref(frame[k]) for k in AHEAD_FIELDS)
        return ahead

    monkeypatch.setattr(World, "copy_ahead", watched)
    while world.tick < 8:
        world.step()
        hook.saver.flush()  # the previous write is done: its frame is the spare again
        hook.after(world)
    hook.saver.flush()
    assert len(handles) == 4 and len({id(h()) for h in handles}) == 1  # rearmed
    hook.close()
    gc.collect()
    assert all(h() is None for h in handles)
    assert all(b() is None for b in buffers)
    before = world.state_hash()
    world.step()
    assert world.state_hash() != before


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.warm("waves")
def test_autosaves_of_a_town_on_two_threads_are_copied_before_the_tick_and_exact(
        tmp_path: Path, monkeypatch) -> None:
    """With ``kernel.threads`` 2 the tick decays every row before its slot loop, so the
    capture copies every row before the next tick (no copy ahead); each autosave is
    still its tick's full copy."""
    cfg = busy_town(tmp_path, threads=2)
    world = World(cfg, seed=7)
    hook = autosave_hook(cfg)
    assert hook is not None
    monkeypatch.setattr(capture, "CHUNK_BYTES", 4096)
    assert world.copy_ahead(world.sections(), 8, 64) is None
    assert run_checked(world, hook, 30) >= 25


@pytest.mark.skipif(INTERPRETED, reason="copy ahead needs compiled kernels")
def test_an_attached_rl_env_reads_the_world_while_an_autosave_is_pending(
        tmp_path: Path, monkeypatch) -> None:
    """``townlet run --policy``: the policy driver's env (townlet.rl, its own kernel
    struct without the capture's checks) observes the world after each step, while the
    autosave of that step is still being copied. It only reads the world: the state is
    bit-identical before and after each observation and scripted action, and every
    autosave is its tick's full copy."""
    from townlet.rl.vector_env import TownletVectorEnv

    cfg = busy_town(tmp_path)
    world = World(cfg, seed=7)
    hook = autosave_hook(cfg)
    assert hook is not None
    release, handles, _ = hold_back(monkeypatch)
    env = TownletVectorEnv(cfg, world=world)
    env.reset()

    def observe() -> None:
        assert not handles[-1].table.any()  # nothing of this capture is copied yet
        before = world.state_hash()
        env.observe()
        env.scripted_actions()
        assert world.state_hash() == before, world.tick

    assert run_checked(world, hook, 40, release, observe) >= 35


CHILD = r"""
import json, sys
from townlet.config import load_config
from townlet.snapshots.world_io import autosave_hook
from townlet.world import World
cfg = load_config(sys.argv[1])
world, hook = World(cfg, seed=3), autosave_hook(cfg)
while True:
    world.step()
    print(json.dumps([world.tick, world.state_hash()]), flush=True)
    hook.after(world)
"""


def test_killed_while_autosaving_leaves_only_complete_autosaves(tmp_path: Path) -> None:
    cfg = config(tmp_path / "root", 3000)
    path = tmp_path / "cfg.yaml"
    path.write_text(dump_config(cfg))
    root = Path(cfg.snapshots.root)
    root.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    hashes: dict[int, str] = {}
    try:
        for line in proc.stdout:  # until two autosaves are published and a third is due
            tick, digest = json.loads(line)
            hashes[tick] = digest
            if len([p for p in root.iterdir() if p.name.startswith("autosave-")]) >= 2 \
                    and tick >= 6:
                break
        proc.send_signal(signal.SIGKILL)  # mid-copy or mid-write: every=1, always busy
    finally:
        proc.kill()
        proc.wait()
    for line in proc.stdout:  # hashes printed before the kill
        tick, digest = json.loads(line)
        hashes[tick] = digest
    published = sorted(p.name for p in root.iterdir() if p.name.startswith("autosave-"))
    assert published
    for name in published:  # every name holds a complete snapshot of its tick
        snap = open_snapshot(root / name)
        world = resume_world(name, cfg)
        assert world.state_hash() == hashes[snap.header.tick], name
    assert all(t.stale for t in list_temps(root))  # leftovers are temps, never loaded
    assert not any(p.name.startswith("autosave-") for p in root.iterdir()
                   if p.name not in published)
    save_world(resume_world(published[-1], cfg), "after.tsnap")  # the root stays usable
