"""Training and inference on top of ``townlet.rl``: the policy network, checkpoints,
the batched ``Policy`` used by every consumer, PPO, behaviour cloning and the
``townlet train`` CLI.

Kept out of ``townlet.rl`` on purpose: ``rl`` holds the compiled kernels (its
sources form the Numba cache fingerprint) and needs no torch; this package is
plain Python over torch and may log through ``townlet.ops``. Needs the ``rl``
extra: ``pip install 'townlet[rl]'``.
"""
