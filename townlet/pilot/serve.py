"""Serve a learned policy in a running town (``townlet run --policy``).

``serve`` attaches a :class:`~townlet.pilot.driver.PolicyDriver` to the simulation and,
when the run has a console, gives it the promotion authority: ``promote_policy`` and
``rollback_policy`` load and verify the new release's checkpoint, swap the driver to
it (the next frame carries its hash) and only then persist the new state.
"""

from __future__ import annotations

from collections.abc import Callable

from townlet.pilot.driver import PolicyDriver, policy_info
from townlet.pilot.policy import LayoutMismatch, LoadedPolicy
from townlet.promotion.manager import Promotion, PromotionError
from townlet.promotion.state import PolicySlot
from townlet.sim.loop import Simulation

__all__ = ["serve", "slot_of"]


def slot_of(policy: LoadedPolicy) -> PolicySlot:
    """The promotion state's record of ``policy``."""
    return PolicySlot(name=policy.name, policy_hash=policy.policy_hash,
                      checkpoint=policy.checkpoint, variant=policy.variant,
                      layout_hash=policy.layout_hash)


def verified(slot: PolicySlot, load: Callable[[str], LoadedPolicy]) -> LoadedPolicy:
    """Load ``slot``'s checkpoint and check it is still the policy the slot names."""
    try:
        policy = load(slot.checkpoint)
    except (OSError, ValueError) as exc:
        raise PromotionError("unusable", f"cannot load {slot.name} from {slot.checkpoint}: "
                             f"{exc}") from None
    if policy.policy_hash != slot.policy_hash:
        raise PromotionError("unusable", f"{slot.checkpoint} now holds policy "
                             f"{policy.policy_hash[:12]}, not {slot.policy_hash[:12]}")
    return policy


def serve(sim: Simulation, policy: LoadedPolicy,
          load: Callable[[str], LoadedPolicy]) -> PolicyDriver:
    """Drive ``sim`` with ``policy`` (``load`` reads checkpoints for promotions)."""
    driver = PolicyDriver(sim, policy).attach()
    console = sim.console
    if console is None:
        return driver

    def swap(slot: PolicySlot | None) -> None:
        new = None if slot is None else verified(slot, load)
        try:
            driver.swap(new)
        except LayoutMismatch as exc:
            raise PromotionError("unusable", str(exc)) from None
        console.policy = policy_info(new, console.policy.identity)

    console.policy = policy_info(policy, sim.identity)
    console.promotion = Promotion(sim.world.config.pilot.promotion, serve=swap,
                                  monitor=driver.monitor)
    return driver
