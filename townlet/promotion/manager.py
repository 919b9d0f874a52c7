"""Promotion transitions: submit a candidate, promote it, roll back (SPEC/learning.md §7.4).

``monitoring`` → ``ready`` when the shadow's suite verdict is clean (no disallowed alert,
no regression beyond tolerance) and it passed ``required_passes`` windows in a row on
every scenario; ``ready`` → ``promoted`` by an explicit promotion (the shadow becomes
the release, the old release is kept for rollback); a rollback restores the release
before the last promotion and returns to ``monitoring``. Promotion and rollback reset
readiness and the streak. Each transition appends an event to the bounded history.

``Promotion`` runs the transitions as store transactions; its optional ``serve``
callback (the live run's policy swap, or the CLI's checkpoint check) runs inside the
transaction and can veto it by raising :class:`PromotionError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from townlet.config.pilot import PromotionConfig
from townlet.promotion.state import (
    PolicySlot,
    PromotionEvent,
    PromotionState,
    PromotionStore,
    SuiteVerdict,
    utc_now,
)

if TYPE_CHECKING:  # the monitor reads the world; the console front has none to load
    from townlet.promotion.stability import StabilityMonitor

__all__ = ["Promotion", "PromotionError", "ready_reasons"]


class PromotionError(RuntimeError):
    """A transition was refused; ``code`` is ``not_ready``, ``no_candidate``,
    ``mismatch``, ``nothing_to_roll_back`` or ``unusable``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def ready_reasons(verdict: SuiteVerdict | None, streak: int, required: int) -> list[str]:
    """Why a candidate with this verdict and streak is not ready (empty: ready)."""
    if verdict is None:
        return ["no suite evaluation"]
    out = [f"alert {a}" for a in verdict.alerts]
    out += [f"regression {r}" for r in verdict.regressions]
    if streak < required:
        out.append(f"{streak} clean window(s) in a row, {required} required")
    return out


class Promotion:
    """The transitions over one :class:`PromotionStore`.

    Parameters
    ----------
    cfg
        ``pilot.promotion`` (required passes, history bound).
    serve
        Called with the new release inside promote/rollback transactions, before the
        state is written: loads and verifies it, and in a live run swaps the town to it.
    """

    def __init__(self, cfg: PromotionConfig,
                 serve: Callable[[PolicySlot | None], None] | None = None,
                 monitor: StabilityMonitor | None = None) -> None:
        self.cfg = cfg
        self.store = PromotionStore(cfg.state_dir)
        self.serve = serve
        self.monitor = monitor
        """The live town's stability monitor, when a run serves a learned policy."""

    def status(self) -> PromotionState:
        return self.store.read()

    def _event(self, s: PromotionState, event: PromotionEvent) -> None:
        s.history = (s.history + [event])[-self.cfg.history_limit:]

    def submit(self, slot: PolicySlot, verdict: SuiteVerdict, streak: int,
               actor: str) -> PromotionState:
        """Make ``slot`` the shadow candidate with its evaluation."""
        def change(s: PromotionState) -> PromotionState:
            s.shadow, s.verdict, s.pass_streak = slot, verdict, streak
            s.required_passes = self.cfg.required_passes
            s.candidate_ready = not ready_reasons(verdict, streak, self.cfg.required_passes)
            s.state = "ready" if s.candidate_ready else "monitoring"
            self._event(s, PromotionEvent(kind="candidate", at=utc_now(), actor=actor,
                                          reason=f"suite {verdict.suite} v{verdict.suite_version}",
                                          release=s.release, previous_release=s.release,
                                          candidate=slot))
            return s
        return self.store.update(change)

    def promote(self, actor: str, reason: str = "",
                policy_hash: str | None = None) -> PromotionState:
        """Make the ready shadow the release (``policy_hash``: refuse another candidate)."""
        def change(s: PromotionState) -> PromotionState:
            if s.shadow is None:
                raise PromotionError("no_candidate", "there is no shadow candidate; submit one "
                                     "with `townlet eval CKPT --submit`")
            if policy_hash is not None and policy_hash != s.shadow.policy_hash:
                raise PromotionError("mismatch", f"the shadow is {s.shadow.policy_hash[:12]}, "
                                     f"not {policy_hash[:12]}")
            why = ready_reasons(s.verdict, s.pass_streak, s.required_passes)
            if why:
                raise PromotionError("not_ready", f"{s.shadow.name} is not ready: "
                                     + "; ".join(why))
            if self.serve is not None:
                self.serve(s.shadow)
            self._event(s, PromotionEvent(kind="promoted", at=utc_now(), actor=actor,
                                          reason=reason, release=s.shadow,
                                          previous_release=s.release))
            s.previous = (s.previous + [s.release])[-self.cfg.history_limit:]
            s.release, s.shadow, s.verdict = s.shadow, None, None
            s.state, s.pass_streak, s.candidate_ready = "promoted", 0, False
            return s
        return self.store.update(change)

    def rollback(self, actor: str, reason: str = "") -> PromotionState:
        """Restore the release before the last promotion."""
        def change(s: PromotionState) -> PromotionState:
            if not s.previous:
                raise PromotionError("nothing_to_roll_back",
                                     "no earlier release to roll back to")
            target = s.previous[-1]
            if self.serve is not None:
                self.serve(target)
            self._event(s, PromotionEvent(kind="rollback", at=utc_now(), actor=actor,
                                          reason=reason, release=target,
                                          previous_release=s.release))
            s.previous = s.previous[:-1]
            s.release = target
            s.state, s.pass_streak, s.candidate_ready = "monitoring", 0, False
            return s
        return self.store.update(change)

