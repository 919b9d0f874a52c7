"""Who is wild, when, and why: the agents that keep a wave tick's rows off the threads
(townlet.world.waves), counted per hour of the town's day.

    python benchmarks/wild_census.py --agents 1000000 --ticks 1440
    python benchmarks/wild_census.py --agents 100000 --warmup 2880 --ticks 7200  # days 3-7

Before every tick of a one-thread town, each living agent is classed by the wave scan's
tests (``Waves``): it stands outside its district's 3x3 and the street past it
(``stand``; ``street``: on that street, tame now but wild before ``MARGIN``), queues for
(``queue``), walks to (``dest``) or meets at (``meet``) a building beyond it, or its turn
may write the exit queue (``exit``: waiting and about to starve, or absent often enough
to join and its shift may end now); ``far`` counts those of ``stand`` that stand far
from home (beyond ``STRAY``: the whole tick runs in slot order). Per hour it prints the
mean wild agents per tick by reason, the mean district rows with a wild agent, and the
share of rows before the first such row (what the threads ran before the tail went to
slot order); per day the same means and the share of ticks with no wild agent (every
row on the threads) and with one far from home (no row on the threads). ``--warmup``
ticks run first, uncounted.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from townlet.config import default_config, with_agents
from townlet.world import World
from townlet.world.jit import kernel
from townlet.world.waves import (
    CORNER,
    MARGIN,
    STRAY,
    X0,
    XS,
    Y0,
    YS,
    R,
    _exit_risk,
    _far,
    waves_for,
)

REASONS = ("stand", "queue", "dest", "meet", "exit", "street", "far")


@kernel
def _classify(s, p, w, tod, out):
    """``out[i]``: bit k set when living agent i is wild for ``REASONS[k]`` (``street`` is
    tame; ``far`` is a case of ``stand``)."""
    per, n = w.geo[R], s.agent_alive.shape[0]
    for i in range(n):
        out[i] = 0
        if not s.agent_alive[i]:
            continue
        d = i // per
        corner = np.int32(w.dist_key[d] - CORNER)
        x, y = s.agent_x[i] - w.span[d, X0], s.agent_y[i] - w.span[d, Y0]
        if x < 0 or x >= w.span[d, XS] or y < 0 or y >= w.span[d, YS]:
            out[i] |= 1
            if (x < -STRAY or x >= w.span[d, XS] + STRAY or y < -STRAY
                    or y >= w.span[d, YS] + STRAY):
                out[i] |= 64
        elif x >= w.span[d, XS] - MARGIN or y >= w.span[d, YS] - MARGIN:
            out[i] |= 32
        o, to, at = s.agent_obj[i], s.agent_dest[i], s.agent_meet_bld[i]
        if o >= 0 and _far(w.obj_key[o + 1], corner):
            out[i] |= 2
        if to >= 0 and _far(w.obj_key[to + 1], corner):
            out[i] |= 4
        if at >= 0 and _far(w.bld_key[at + 1], corner):
            out[i] |= 8
        if _exit_risk(s, p, i, tod):
            out[i] |= 16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100_000)
    ap.add_argument("--ticks", type=int, default=1440)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=0)
    args = ap.parse_args()
    world = World(with_agents(default_config(), args.agents), args.seed)
    w = waves_for(world._s, world._p, 1)
    dw, dh, per = int(w.geo[0]), int(w.geo[1]), int(w.geo[R])
    day, hour = world._p.day, world._p.hour
    bits = np.zeros(args.agents, dtype=np.int64)
    hours: dict[int, dict[str, float]] = {}
    days: dict[int, dict[str, float]] = {}
    for _ in range(args.warmup):
        world.step()
    for _ in range(args.ticks):
        t = world.tick + 1  # the tick the scan sees (the world phase advances the clock)
        _classify(world._ks, world._kp, w, t % day, bits)
        wild = (bits & 31) != 0
        rows = np.zeros(dh, dtype=bool)
        rows[np.nonzero(wild)[0] // per // dw] = True
        first = int(np.argmax(rows)) if rows.any() else dh
        h = hours.setdefault((t % day) // hour, {"ticks": 0, "wild": 0, "wild_rows": 0,
                                                  "rows_before_first": 0,
                                                  **{r: 0 for r in REASONS}})
        h["ticks"] += 1
        h["wild"] += int(wild.sum())
        h["wild_rows"] += int(rows.sum())
        h["rows_before_first"] += first / dh
        for k, r in enumerate(REASONS):
            h[r] += int(((bits >> k) & 1).sum())
        far = int(((bits >> REASONS.index("far")) & 1).sum())
        dd = days.setdefault(t // day, {"ticks": 0, "wild": 0, "far": 0, "rows_before_first": 0,
                                        "ticks_no_wild": 0, "ticks_far": 0})
        dd["ticks"] += 1
        dd["wild"] += int(wild.sum())
        dd["far"] += far
        dd["rows_before_first"] += first / dh
        dd["ticks_no_wild"] += not wild.any()
        dd["ticks_far"] += far > 0
        world.step()
    out = []
    for hr in sorted(hours):
        h = hours[hr]
        ticks = h.pop("ticks")
        out.append({"hour": hr, "ticks": ticks, **{k: round(v / ticks, 3) for k, v in h.items()}})
    per_day = []
    for d in sorted(days):
        dd = days[d]
        ticks = dd.pop("ticks")
        per_day.append({"day": d, "ticks": ticks,
                        **{k: round(v / ticks, 4) for k, v in dd.items()}})
    print(json.dumps({"agents": args.agents, "rows": dh, "districts_w": dw, "hours": out,
                      "days": per_day}))


if __name__ == "__main__":
    main()
