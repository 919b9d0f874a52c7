"""Many towns at once: sweeps of seeds × configs × sizes and sharded RL rollouts,
scheduled on Ray (the optional ``ray`` extra). Ray is imported only where a sweep or
a rollout pool actually runs, so the spec and the single-town runner work without it."""

from townlet.scale.spec import SpecError, SweepSpec, TownJob, load_spec
from townlet.scale.town import TownResult, run_town

__all__ = ["SpecError", "SweepSpec", "TownJob", "TownResult", "load_spec", "run_town"]
