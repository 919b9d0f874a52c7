"""Snapshot throughput at 1M agents (asv suite, also runnable directly).

Headline numbers (``track_*``, best of three runs each):

- save MB/s: ``save_world`` of a live world, including checksums, fsync and rename;
- load MB/s (mapped): ``open_snapshot`` -- map the file read-only and verify every
  section's checksum; the arrays are then usable in place (zero copy);
- restore MB/s: ``load_into`` -- load plus every gate plus copying into the world's arrays;
- size ratio: file size / raw state bytes;
- autosave capture (``time_autosave_capture``): the only autosave work on the tick
  thread, copying the state into the previous autosave's arrays.

MB/s are of raw state bytes. Quick run: ``python benchmarks/bench_snapshots.py [--agents N]``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import msgspec

AGENTS = 1_000_000


def _world(agents: int, root: str):
    from townlet.config import default_config, with_agents
    from townlet.world import World

    cfg = with_agents(default_config(), agents)
    cfg = msgspec.structs.replace(cfg, snapshots=msgspec.structs.replace(cfg.snapshots, root=root))
    world = World(cfg, seed=1)
    for _ in range(3):
        world.step()
    return world


def _raw_bytes(world) -> int:
    return sum(a.nbytes for a in world.sections().values())


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


class SnapshotSuite:
    """Save, load and restore a 1M-agent town."""

    timeout = 600
    number = 1
    repeat = 3
    agents = AGENTS

    def setup(self) -> None:
        from townlet.snapshots.world_io import save_world

        self.root = tempfile.mkdtemp(prefix="townlet-bench-snap-")
        self.world = _world(self.agents, self.root)
        self.raw = _raw_bytes(self.world)
        self.path, _ = save_world(self.world, "base.tsnap")
        self.spare = None
        self._capture()  # the autosaver's steady state: a spare frame from the last autosave

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _save(self) -> None:
        from townlet.snapshots.world_io import save_world

        save_world(self.world, "again.tsnap", overwrite=True)

    def _load(self) -> None:
        from townlet.snapshots.reader import open_snapshot

        open_snapshot(self.path)

    def _restore(self) -> None:
        from townlet.snapshots.world_io import load_into

        load_into(self.world, "base.tsnap")

    def _capture(self) -> None:
        from townlet.snapshots.world_io import capture_world

        _, self.spare = capture_world(self.world, self.spare)

    def time_autosave_capture(self) -> None:
        self._capture()

    def time_save(self) -> None:
        self._save()

    def time_load_mapped(self) -> None:
        self._load()

    def time_restore(self) -> None:
        self._restore()

    def track_save_mb_s(self) -> float:
        return self.raw / _best(self._save) / 1e6

    track_save_mb_s.unit = "MB/s"

    def track_load_mapped_mb_s(self) -> float:
        return self.raw / _best(self._load) / 1e6

    track_load_mapped_mb_s.unit = "MB/s"

    def track_restore_mb_s(self) -> float:
        return self.raw / _best(self._restore) / 1e6

    track_restore_mb_s.unit = "MB/s"

    def track_size_ratio(self) -> float:
        return os.path.getsize(self.path) / self.raw

    track_size_ratio.unit = "x raw"


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=AGENTS)
    args = parser.parse_args()
    suite = SnapshotSuite()
    suite.agents = args.agents
    suite.setup()
    try:
        print(f"agents {suite.agents:,}  raw state {suite.raw / 1e6:,.1f} MB")
        print(f"save            {suite.track_save_mb_s():8,.0f} MB/s")
        print(f"load (mapped)   {suite.track_load_mapped_mb_s():8,.0f} MB/s")
        print(f"restore (copy)  {suite.track_restore_mb_s():8,.0f} MB/s")
        print(f"size / raw      {suite.track_size_ratio():8.4f}")
        print(f"autosave capture {_best(suite._capture) * 1e3:7,.0f} ms on the tick thread")
    finally:
        suite.teardown()


if __name__ == "__main__":
    main()
