"""The world kernel: struct-of-arrays state advanced by Numba-compiled ticks."""

from townlet.world._cache import install

install()  # before any kernel module: townlet's kernels are cached by source fingerprint


from townlet.world.actions import Action, Goal
from townlet.world.errors import WorldError
from townlet.world.events import EventCode
from townlet.world.world import World

__all__ = ["Action", "EventCode", "Goal", "World", "WorldError"]
