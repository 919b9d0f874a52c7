"""Reinforcement-learning interface to the town: observations, action masks,
rewards, the batched ``TownletVectorEnv`` and the PettingZoo ``parallel_env``.

Needs the ``rl`` extra (gymnasium, pettingzoo): ``pip install townlet[rl]``.
Submodules load lazily, so ``townlet.rl.build_layout`` works without them.
"""

from importlib import import_module

from townlet.world._cache import install

install()  # before any rl kernel is decorated (see townlet.world._cache)

__all__ = ["COMPONENTS", "Layout", "TownletParallelEnv", "TownletVectorEnv",
           "apply_death_window", "build_layout", "parallel_env"]

_LAZY = {
    "COMPONENTS": "townlet.rl.rewards",
    "apply_death_window": "townlet.rl.rewards",
    "Layout": "townlet.rl.layout",
    "build_layout": "townlet.rl.layout",
    "TownletVectorEnv": "townlet.rl.vector_env",
    "TownletParallelEnv": "townlet.rl.parallel",
    "parallel_env": "townlet.rl.parallel",
}
_EXTRA = {"gymnasium", "pettingzoo"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'townlet.rl' has no attribute {name!r}")
    try:
        module = import_module(_LAZY[name])
    except ModuleNotFoundError as exc:
        if exc.name in _EXTRA:
            raise ImportError(f"townlet.rl.{name} needs {exc.name}: "
                              f"pip install 'townlet[rl]'") from exc
        raise
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(__all__)
