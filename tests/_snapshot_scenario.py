"""A scripted run with perturbations and interventions at fixed ticks, shared by the
exact-resume tests (imported in-process, and run as a script in child processes).

    python tests/_snapshot_scenario.py save CONFIG NAME SEED N   # run [0, N), save NAME
    python tests/_snapshot_scenario.py resume CONFIG NAME M      # load NAME, run M more

Each prints one JSON line: tick, state hash, live relationship ties, active perturbations.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def advance(world, stop: int) -> None:
    """Step ``world`` up to tick ``stop``, applying the same interventions at the same ticks."""
    while world.tick < stop:
        t = world.tick
        if t == 550:
            world.perturb("price_spike", 400, 1.6)
            world.perturb("arranged_meet", 300, target=0)
            world.perturb("blackout", 250, target=0)
        if t == 820:
            world.cancel_perturbation(int(world.view("pert_id")[world.view("pert_kind") >= 0][0]))
            alive = np.flatnonzero(world.view("agent_alive"))
            world.set_need(int(alive[3]), "hunger", 0.05)
            world.kill(int(alive[5]))
        world.step()


def summary(world) -> dict:
    return {"tick": world.tick, "hash": world.state_hash(),
            "ties": int((world.view("rel_other") >= 0).sum()),
            "perturbations": int((world.view("pert_kind") >= 0).sum())}


def main(argv: list[str]) -> None:
    from townlet.config import load_config

    mode, cfg = argv[0], load_config(argv[1])
    if mode == "save":
        from townlet.snapshots.world_io import save_world
        from townlet.world import World

        world = World(cfg, seed=int(argv[3]))
        advance(world, int(argv[4]))
        save_world(world, argv[2])
    else:
        from townlet.snapshots.world_io import resume_world

        world = resume_world(argv[2], cfg)
        loaded = summary(world)
        advance(world, world.tick + int(argv[3]))
        print(json.dumps({"loaded": loaded}))
    print(json.dumps(summary(world)))


if __name__ == "__main__":
    main(sys.argv[1:])
