"""Action codes, goals, shift states and agent flags shared by the kernel,
the scripted policy, the RL environment and the console."""

from __future__ import annotations

from enum import IntEnum

from townlet.world.names import record_type

__all__ = ["N_ACTIONS", "OPTION_GOAL", "A", "Action", "Flag", "G", "Goal", "Shift", "consts"]


class Action(IntEnum):
    """What an agent does this tick (``World.step(actions)``)."""

    SCRIPTED = -1
    """Let the scripted policy decide for this agent."""
    WAIT = 0
    MOVE_N = 1
    MOVE_E = 2
    MOVE_S = 3
    MOVE_W = 4
    INTERACT = 5
    """Queue for / start the affordance of the object whose access tile the agent is on."""
    TALK = 6
    """Chat with a neighbour (Chebyshev distance <= 1)."""
    CANCEL = 7
    """Cancel the running affordance (refund, no effects) or leave the queue."""
    GO_EAT = 8
    GO_WASH = 9
    GO_SLEEP = 10
    GO_WORK = 11
    GO_SHOP = 12
    GO_SOCIAL = 13
    GO_HOME = 14


N_ACTIONS = sum(1 for a in Action if a >= 0)
"""Size of the action space: codes 0 .. N_ACTIONS - 1 (SCRIPTED is not an action)."""


class Goal(IntEnum):
    """What the navigation layer is working toward."""

    NONE = 0
    EAT = 1
    WASH = 2
    SLEEP = 3
    WORK = 4
    SHOP = 5
    SOCIAL = 6
    MEET = 7
    HOME = 8


OPTION_GOAL = {Action.GO_EAT: Goal.EAT, Action.GO_WASH: Goal.WASH, Action.GO_SLEEP: Goal.SLEEP,
               Action.GO_WORK: Goal.WORK, Action.GO_SHOP: Goal.SHOP,
               Action.GO_SOCIAL: Goal.SOCIAL, Action.GO_HOME: Goal.HOME}
"""Option actions hand control to scripted navigation until the goal is done."""


class Shift(IntEnum):
    """Shift state machine (SPEC/world.md §6.5), evaluated by time of day."""

    PRE_SHIFT = 0
    AWAIT_START = 1
    ON_TIME = 2
    LATE = 3
    ABSENT = 4
    POST_SHIFT = 5


class Flag(IntEnum):
    """Bits of ``agent_flags``."""

    POSSESSED = 1
    FAINTED = 2
    EXIT_PENDING = 4
    ON_SHIFT = 8
    TELEPORTED = 16
    """Set for one tick after a teleport: policies should reset their context."""
    LATE_CHARGED = 32
    ABSENT_CHARGED = 64
    ARRIVED = 128
    """Present at work at least once during the current shift."""


def consts(enum: type[IntEnum]):
    """The enum's members as a namedtuple of plain ints, for compiled code
    (Numba cannot mix IntEnum members with the integers it reads from arrays)."""
    return record_type(enum.__name__ + "Codes", enum.__members__)(*(int(m) for m in enum))


A = consts(Action)
G = consts(Goal)
