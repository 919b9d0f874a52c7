"""Names of the coded values frames carry (goals, shift states, counters, event codes).

The world defines these enums (``townlet.world.actions``, ``townlet.world.events``,
``townlet.world.state``)
and docs/protocol.md publishes them for clients in any language; the UI must not
import the world (it would load numba), so it reads them as the protocol states
them, by position. ``tests/test_ui_vocab.py`` checks every tuple against the
world's enum, so a renumbering fails there instead of mislabelling the screen.
Names of needs, prices, object types and perturbation kinds come from
``townlet.config.world`` (their one home).
"""

from __future__ import annotations

from typing import Final

__all__ = ["EVENT_NAMES", "GOAL_NAMES", "SHIFT_NAMES", "STAT_NAMES", "event_name", "name_of"]

GOAL_NAMES: Final = ("none", "eat", "wash", "sleep", "work", "shop", "social", "meet", "home")
"""``agent_goal`` values 0.. in order."""
SHIFT_NAMES: Final = ("pre_shift", "await_start", "on_time", "late", "absent", "post_shift")
"""``agent_shift`` values 0.. in order."""
STAT_NAMES: Final = (
    "deaths", "faints", "respawns", "exits", "chats", "completed", "failed", "events_dropped",
    "conflicts", "kills", "spawns", "critical_ticks", "agent_ticks", "shifts_worked",
    "absences", "collapses", "unkempt", "lonely", "soured_chats", "low_mood_ticks", "sold_out",
)
"""The ``stats`` column's counters in order."""
EVENT_NAMES: Final = (
    "affordance_start", "affordance_finish", "affordance_fail", "precondition_fail",
    "shower_complete", "sleep_complete", "shared_meal", "stock_replenish", "queue_conflict",
    "queue_handover", "reservation_timeout", "chat_success", "chat_failure",
    "shift_late_start", "shift_absent", "shift_departed_early", "exit_pending",
    "exit_queue_overflow", "exit_processed", "agent_fainted", "agent_died", "agent_respawn",
    "agent_killed", "agent_spawned", "agent_teleported", "perturbation_started",
    "perturbation_ended", "perturbation_cancelled", "price_change", "meeting_arranged",
    "object_disabled", "object_enabled", "need_neglected", "agent_collapsed", "chat_soured",
)
"""Event codes 1.. in order (code ``c`` is ``EVENT_NAMES[c - 1]``)."""


def name_of(names: tuple[str, ...], code: int) -> str:
    """``names[code]``, or the number itself for a code this client does not know."""
    return names[code] if 0 <= code < len(names) else str(code)


def event_name(code: int) -> str:
    """The protocol name of an event code (its number when unknown)."""
    return EVENT_NAMES[code - 1] if 1 <= code <= len(EVENT_NAMES) else str(code)
