"""Needs with consequences: a need left at 0 for long changes what the agent can do.

``agent_neglect[i, n]`` counts the consecutive ticks need n of agent i has sat at 0,
capped at the need's limit (``need_neglect``, from ``world.neglect`` and, for hunger,
``lifecycle.death_after_ticks``). The count of a need other than hunger pauses while
the agent runs an affordance that restores it (a sleeper at energy 0 is not collapsing);
starvation runs on during a meal, as it always has. At the limit:

- hunger: starvation death while mortality is on (townlet.world.lifecycle);
- energy: exhaustion, the agent collapses and sleeps where it stands
  (townlet.world.lifecycle.collapse);
- hygiene: the agent is unkempt, neighbours do not choose it for a chat and a chat
  with it costs the partner trust (townlet.world.social);
- social: the agent is lonely, and its low mood cuts its output at work: it earns
  ``low_mood_output`` of its wage per tick (townlet.world.jobs).

The count restarts once the need is above 0, so each effect lasts until the need is
restored (washing, company, sleep). O(1) per agent per tick.
"""

from __future__ import annotations

from townlet.world.events import EventCode, emit
from townlet.world.jit import inline_kernel, kernel
from townlet.world.state import Need, St

__all__ = ["count_neglect", "low_mood", "unkempt"]


@kernel
def count_neglect(s, p, i, n, v):
    """Advance agent i's count for need n, now at value ``v``; the onset of a non-lethal
    consequence (the count reaching its limit) is counted and emits NEED_NEGLECTED."""
    c = s.agent_neglect[i, n]
    if v > 0:
        if c:
            s.agent_neglect[i, n] = 0
        return
    limit = p.need_neglect[n]
    a = s.agent_aff[i]
    if c >= limit or n != Need.HUNGER and a >= 0 and p.aff_effect[a, n] > 0:
        return  # at its limit, or being restored right now
    s.agent_neglect[i, n] = c + 1
    if c + 1 == limit and n != Need.HUNGER:
        if n == Need.HYGIENE:
            s.stats[St.UNKEMPT] += 1
        elif n == Need.SOCIAL:
            s.stats[St.LONELY] += 1
        emit(s, EventCode.NEED_NEGLECTED, i, -1, -1, n)


@kernel
def unkempt(s, p, i):
    """Whether agent i's hygiene has sat at 0 for ``neglect.unkempt_after`` ticks (reads only)."""
    return s.agent_neglect[i, Need.HYGIENE] >= p.need_neglect[Need.HYGIENE]


@inline_kernel
def low_mood(s, p, i):
    """Whether agent i's social need has sat at 0 for ``neglect.lonely_after`` ticks
    (reads only)."""
    return s.agent_neglect[i, Need.SOCIAL] >= p.need_neglect[Need.SOCIAL]
