"""Training and inference on top of ``townlet.rl``: the policy network, checkpoints,
the batched ``Policy`` used by every consumer, PPO, behaviour cloning and the
``townlet train`` CLI.

Kept out of ``townlet.rl`` on purpose: ``rl`` holds the compiled kernels (its
sources form the Numba cache fingerprint) and needs no torch; this package is
plain Python over torch and may log through ``townlet.ops``. Needs the ``rl``
extra: ``pip install 'townlet[rl]'``.

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` (unless already set) before torch
loads: torch and Numba's parallel kernels each bring an OpenMP runtime, and an
idle OpenMP worker that waits actively spins on a core. With the town's tick and
torch in one process, each runtime's spinning workers took the core the other
needed: measured on the 2-core box, a 512-agent forward pass took 36 ms after a
tick instead of 0.7 ms, and PPO ran at 10-15k agent-steps per CPU-second instead
of ~60k (docs/architecture.md, "Torch next to the town").
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
