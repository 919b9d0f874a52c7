"""``PolicyDriver``: a learned policy drives (part of) a running town.

It is the simulation's action source and a tick hook. Before each step it draws
which agents the policy drives this tick (:class:`~townlet.pilot.anneal.Anneal`),
runs the policy once on the batch of those agents' observations and masks, and
hands the world one code per slot: the policy's action, or -1 (scripted) for every
other agent (not selected, possessed, empty). After the step it encodes the next
observations with ``TownletVectorEnv.observe`` (rewards and masks in the same
compiled pass) and feeds the stability monitor. No Python runs per agent.

The identity it publishes (``sim.identity``: hash, name, variant, anneal ratio and
unit, learned agents) goes into every frame and snapshot. ``swap`` changes the
policy between two ticks (promotion, rollback), after checking its layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from townlet.console.context import PolicyInfo
from townlet.pilot.anneal import Anneal
from townlet.pilot.policy import LoadedPolicy, check_layout
from townlet.promotion.stability import StabilityMonitor
from townlet.rl.vector_env import TownletVectorEnv
from townlet.sim.loop import Simulation
from townlet.snapshots.format import PolicyIdentity
from townlet.world import World
from townlet.world.actions import N_ACTIONS

__all__ = ["PolicyDriver", "policy_actions", "policy_info"]


def policy_info(policy: LoadedPolicy | None, identity: PolicyIdentity) -> PolicyInfo:
    """What the console's ``policy_info`` reports for ``policy`` (None: scripted)."""
    if policy is None:
        return PolicyInfo()
    return PolicyInfo(kind="learned", name=policy.name, checkpoint=policy.checkpoint or None,
                      policy_hash=policy.policy_hash, identity=identity)


def policy_actions(policy: LoadedPolicy, obs: dict[str, np.ndarray], mask: np.ndarray,
                   rows: np.ndarray, out: np.ndarray) -> None:
    """Run ``policy`` once on ``rows`` of the batch; write its actions there and -1
    (scripted) everywhere else. Raises ValueError if it returns a wrong shape, an
    out-of-range code or a masked action."""
    out[...] = -1
    if rows.size == 0:
        return
    acts = np.asarray(policy.act({k: v[rows] for k, v in obs.items()}, mask[rows]))
    if acts.shape != rows.shape or acts.dtype.kind not in "iu":
        raise ValueError(f"policy {policy.name!r} returned {acts.dtype}{acts.shape}, "
                         f"expected integer actions of shape {rows.shape}")
    if acts.min() < 0 or acts.max() >= N_ACTIONS or not mask[rows, acts].all():
        raise ValueError(f"policy {policy.name!r} chose a masked or out-of-range action")
    out[rows] = acts


class PolicyDriver:
    """Drive ``world`` with ``policy`` under the config's anneal schedule.

    ``attach`` makes it the simulation's action source and hook; the world's config
    (``pilot``) gives the anneal schedule and the monitor's thresholds.

    Parameters
    ----------
    sim
        The simulation; the driver sets ``sim.identity`` every step.
    policy
        The learned policy; its observation layout must be the town's
        (:class:`~townlet.pilot.policy.LayoutMismatch` otherwise).
    """

    def __init__(self, sim: Simulation, policy: LoadedPolicy) -> None:
        world = sim.world
        config = world.config
        self.sim = sim
        self.env = TownletVectorEnv(config, variant=policy.variant, world=world)
        check_layout(policy, self.env.layout, "this town")
        self.policy: LoadedPolicy | None = policy
        self.anneal = Anneal(config.pilot.anneal, world.n_agents)
        self.monitor = StabilityMonitor(config.pilot.stability, config.pilot.promotion)
        n = world.n_agents
        self.learned = np.zeros(n, np.bool_)
        """Slots the policy drove on the last step."""
        self._actions = np.zeros(n, np.int8)
        self._obs_tick = -1
        self._obs: dict[str, np.ndarray] = {}
        self._infos: dict[str, Any] = {}

    def attach(self) -> PolicyDriver:
        """Become the simulation's action source and tick hook; returns self."""
        self.sim.actions = self
        self.sim.add_hook(self)
        return self

    def swap(self, policy: LoadedPolicy | None) -> None:
        """Drive with ``policy`` from the next step on (same layout required; None: hand
        every agent back to the scripted policy)."""
        if policy is not None:
            check_layout(policy, self.env.layout, "this town")
        self.policy = policy

    def _sync(self, world: World) -> None:
        """Observations for the world's current state (first step, or after a snapshot
        was loaded or the world otherwise moved without this driver seeing it)."""
        self._obs, self._infos = self.env.reset()
        self._obs_tick = world.tick

    def actions(self, world: World) -> np.ndarray | None:
        """The actions of the coming step (the simulation's action source)."""
        if world.tick != self._obs_tick:
            self._sync(world)
        if self.policy is None:
            self.learned[...] = False
            self._publish(PolicyIdentity())
            return None
        ratio = self.anneal.learned(world.view("rng_key"), world.tick, world.view("agent_gen"),
                                    self.learned)
        self.learned &= self._infos["controlled"]
        policy_actions(self.policy, self._obs, self._infos["action_mask"],
                       np.flatnonzero(self.learned), self._actions)
        self._publish(PolicyIdentity(
            policy_hash=self.policy.policy_hash, policy_name=self.policy.name,
            observation_variant=self.policy.variant, anneal_ratio=ratio,
            anneal_unit=self.anneal.cfg.unit, learned_agents=int(self.learned.sum())))
        return self._actions

    def _publish(self, identity: PolicyIdentity) -> None:
        """Record what drives this step for frames, snapshots and the console."""
        if identity == self.sim.identity:
            return
        self.sim.identity = identity
        if self.sim.console is not None:
            self.sim.console.policy = policy_info(self.policy, identity)

    def before(self, world: World) -> None:
        """Nothing before the console drains: actions are chosen after it (``actions``)."""

    def after(self, world: World) -> None:
        """Encode the observations, rewards and masks of the tick just run; feed the monitor."""
        if world.tick != self._obs_tick + 1:
            self._sync(world)
            return
        self._obs, rewards, _, _, self._infos = self.env.observe()
        self._obs_tick = world.tick
        self.monitor.observe(world, rewards, self._infos["alive"],
                             bool(self.env.embedding_metrics()["reuse_warning"]))

    def close(self) -> None:
        """Nothing to release (the env shares the simulation's world)."""
