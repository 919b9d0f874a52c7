"""Which world events the reward engine reads, by event name (not number)."""

from __future__ import annotations

import numpy as np

from townlet.rl.rewards import CAT_CHAT, CAT_DEATH, CAT_EXIT, CAT_REMOVED
from townlet.world.events import EventCode

__all__ = ["EVENT_CATEGORY", "event_categories"]

EVENT_CATEGORY = {
    EventCode.CHAT_SUCCESS: CAT_CHAT,
    EventCode.AGENT_DIED: CAT_DEATH,
    EventCode.EXIT_PROCESSED: CAT_EXIT,
    EventCode.AGENT_KILLED: CAT_REMOVED,
}
"""Chats pay the social reward; deaths and exits carry terminal penalties; a
console kill ends the episode without one."""


def event_categories() -> np.ndarray:
    """``category[code]`` for every event code (0 = ignored)."""
    table = np.zeros(max(EventCode) + 1, dtype=np.int8)
    for code, cat in EVENT_CATEGORY.items():
        table[code] = cat
    return table
