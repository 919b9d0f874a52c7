"""Which columns make up a frame's bytes, and how much of each changes between frames.

For issue 12's frame write: a frame copies every non-static column, so a column that
rarely changes is bytes a change-aware writer would not move. For each state column of
the frame this prints its bytes per frame and, between the frame of tick t and the
frames of ticks t + lag, the share of its elements, 64-byte lines and 4 KiB blocks that
differ. Lag 4 is what a ring slot holds with a frame every tick (4 slots); lag 32 with
the default cadence (a frame every 8 ticks). Windows: night and noon, as ``bench_frames``.

``python -m benchmarks.frame_census --agents 100000 --window night`` (from the checkout)
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.bench_frames import WINDOWS
from townlet.config import default_config, with_agents
from townlet.frames.schema import STATE_COLUMNS, STATIC_COLUMNS
from townlet.world import World

LAGS = (1, 4, 32)
GRAINS = (64, 4096)


def changed(old: np.ndarray, new: np.ndarray, grain: int) -> float:
    """Share of ``grain``-byte pieces of a column (as laid out in memory) that differ."""
    a, b = old.view(np.uint8).ravel(), new.view(np.uint8).ravel()
    n = -(-a.size // grain)
    pad = n * grain - a.size
    diff = np.concatenate([a != b, np.zeros(pad, bool)]).reshape(n, grain).any(axis=1)
    return float(diff.mean())


def census(agents: int, start: int, bases: int) -> dict[str, dict[str, float]]:
    """Per column: bytes, then for each lag the mean share of elements, lines and blocks
    that differ, over ``bases`` base ticks 32 apart from ``start``."""
    world = World(with_agents(default_config(), agents), seed=0)
    while world.tick < start:
        world.step()
    cols = [c for c in STATE_COLUMNS if c not in STATIC_COLUMNS]
    out = {c: {"bytes": float(world.sections()[c].nbytes)} for c in cols}
    for _ in range(bases):
        base = {c: world.sections()[c].copy() for c in cols}
        t0 = world.tick
        for lag in range(1, max(LAGS) + 1):
            world.step()
            if world.tick - t0 not in LAGS:
                continue
            now = world.sections()
            for c in cols:
                row = out[c]
                el = (base[c] != now[c]).reshape(len(base[c]), -1).any(axis=1).mean()
                row[f"el{lag}"] = row.get(f"el{lag}", 0.0) + float(el) / bases
                for g in GRAINS:
                    key = f"b{g}_{lag}"
                    row[key] = row.get(key, 0.0) + changed(base[c], now[c], g) / bases
    return out


def _positive(text: str) -> int:
    """An argument that counts something: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def main(argv: list[str] | None = None) -> None:
    """Print the census of one size and window."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=_positive, default=100_000)
    ap.add_argument("--window", choices=sorted(WINDOWS), default="night")
    ap.add_argument("--bases", type=_positive, default=2, help="base ticks, 32 apart")
    args = ap.parse_args(argv)
    out = census(args.agents, WINDOWS[args.window], args.bases)
    total = sum(r["bytes"] for r in out.values())
    print(f"agents={args.agents:,} window={args.window} changing columns "
          f"{total / 1e6:.2f} MB per frame")
    head = "  ".join(f"lag{lag}: el/64B/4K %" for lag in LAGS)
    print(f"{'column':<16}{'MB':>7}{'share':>7}  {head}")
    for c, r in sorted(out.items(), key=lambda kv: -kv[1]["bytes"]):
        lags = "  ".join(f"{100 * r[f'el{lag}']:5.1f}/{100 * r[f'b64_{lag}']:5.1f}/"
                         f"{100 * r[f'b4096_{lag}']:5.1f}" for lag in LAGS)
        print(f"{c:<16}{r['bytes'] / 1e6:7.3f}{100 * r['bytes'] / total:6.1f}%  {lags}")
    for lag in LAGS:
        for g in GRAINS:
            moved = sum(r["bytes"] * r[f"b{g}_{lag}"] for r in out.values())
            print(f"lag {lag:>2}: bytes in changed {g:>4}-byte pieces {moved / 1e6:7.2f} MB "
                  f"({100 * moved / total:4.1f}%)")


if __name__ == "__main__":
    main()
