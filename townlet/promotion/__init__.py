"""Stability monitor and promotion state: which learned policy is the release, which is
the shadow candidate, whether the candidate is ready, and the bounded history of
promotions and rollbacks, persisted under the state directory.

Knows the world (to watch it) and the config, nothing that needs torch, so the console
and the simulation may use it; loading policies is ``townlet.pilot``'s job.
"""
