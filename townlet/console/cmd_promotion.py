"""Promotion commands: the live run's policy slots, stability and gate.

They act on the one persisted promotion state (``townlet.promotion``) that ``townlet
eval --submit`` and ``townlet promote`` also use. ``promote_policy`` and
``rollback_policy`` run on the tick (between two steps): the run loads and verifies
the new release's checkpoint and swaps the town to it before the state is written,
so the next frame already carries the new policy hash, and a checkpoint that fails to
load leaves both the town and the state unchanged. Only a run started with
``--policy`` serves promotions; any other answers ``E_BUSY_TARGET``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from townlet.console.cmd_info import NoArgs
from townlet.console.context import CommandContext
from townlet.console.errors import CommandError
from townlet.promotion.manager import Promotion, PromotionError
from townlet.promotion.stability import StabilityReport
from townlet.promotion.state import PromotionState, StateError

__all__ = ["promote_policy", "promotion_status", "rollback_policy"]

_CODES = {"not_ready": "E_BUSY_TARGET", "no_candidate": "E_BUSY_TARGET",
          "nothing_to_roll_back": "E_BUSY_TARGET", "mismatch": "E_INVALID_ARG",
          "unusable": "E_INVALID_ARG"}
Reason = Annotated[str, Meta(max_length=200)]


class PromoteArgs(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason = ""
    """Why (kept in the promotion history)."""
    policy_hash: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")] | None = None
    """Promote only if the shadow candidate has this hash (the one you reviewed)."""


class RollbackArgs(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason = ""
    """Why (kept in the promotion history)."""


class PromotionStatus(msgspec.Struct):
    promotion: PromotionState
    """Release and shadow slots, readiness, earlier releases and the bounded history."""
    stability: StabilityReport | None
    """The live town's stability monitor (None when no learned policy drives it)."""


def _promotion(ctx: CommandContext) -> Promotion:
    if ctx.promotion is None:
        raise CommandError("E_BUSY_TARGET", "this run serves no learned policy (start it "
                           "with `townlet run --policy ...`); use `townlet promote` offline")
    return ctx.promotion


def _run(action) -> PromotionState:
    try:
        return action()
    except PromotionError as exc:
        raise CommandError(_CODES[exc.code], str(exc)) from None
    except StateError as exc:
        raise CommandError("E_INTERNAL", str(exc)) from None


def promotion_status(ctx: CommandContext, p: NoArgs) -> PromotionStatus:
    """Release and shadow policies, readiness, history and live stability alerts."""
    promo = _promotion(ctx)
    state = _run(promo.status)
    return PromotionStatus(state, None if promo.monitor is None else promo.monitor.report())


def promote_policy(ctx: CommandContext, p: PromoteArgs) -> PromotionState:
    """Promote the ready shadow candidate to release; the town switches to it now."""
    promo = _promotion(ctx)
    return _run(lambda: promo.promote(f"console:{ctx.principal.key_id}", p.reason,
                                      p.policy_hash))


def rollback_policy(ctx: CommandContext, p: RollbackArgs) -> PromotionState:
    """Restore the release before the last promotion; the town switches back now."""
    promo = _promotion(ctx)
    return _run(lambda: promo.rollback(f"console:{ctx.principal.key_id}", p.reason))
