"""Compiled helpers for operator interventions (spawn, kill, teleport, objects).

They run between ticks; the ``World`` methods validate arguments first and
raise typed errors, so these never see bad input.
"""

from __future__ import annotations

from townlet.world.actions import Flag
from townlet.world.affordances import fail_running
from townlet.world.events import EventCode, Reason, emit
from townlet.world.jit import kernel
from townlet.world.lifecycle import arrive, drop_everything, remove
from townlet.world.social import tile_link, tile_unlink
from townlet.world.state import St

__all__ = ["kill", "set_enabled", "spawn", "teleport"]


@kernel
def spawn(s, p, i, t, x, y):
    """Operator spawn: a newcomer arrives in empty slot i at (x, y); SPAWNS stat and event."""
    arrive(s, p, i, t, x, y)
    s.stats[St.SPAWNS] += 1
    emit(s, EventCode.AGENT_SPAWNED, i, -1, -1, s.agent_gen[i])


@kernel
def kill(s, p, i, t):
    """Operator kill: agent i is removed without a respawn; KILLS stat and event."""
    s.stats[St.KILLS] += 1
    emit(s, EventCode.AGENT_KILLED, i, -1, -1, Reason.KILLED)
    remove(s, p, i, t, Reason.KILLED, False)


@kernel
def teleport(s, p, i, t, x, y):
    """Operator teleport: agent i drops what it holds and moves to (x, y), flagged TELEPORTED."""
    drop_everything(s, p, i, t, Reason.TELEPORTED)
    tile_unlink(s, i)
    s.agent_x[i], s.agent_y[i] = x, y
    tile_link(s, i)
    s.agent_flags[i] |= Flag.TELEPORTED
    s.agent_teleported_at[i] = t
    emit(s, EventCode.AGENT_TELEPORTED, i, -1, -1, 0.0)


@kernel
def set_enabled(s, p, o, t, enabled):
    """Disable (failing a running affordance gracefully) or re-enable an object."""
    s.obj_disabled[o] = 0 if enabled else 1
    h = s.obj_holder[o]
    if not enabled and h >= 0 and s.agent_aff[h] >= 0:
        fail_running(s, p, h, t, Reason.DISABLED)
    emit(s, EventCode.OBJECT_ENABLED if enabled else EventCode.OBJECT_DISABLED, -1, -1, o, 0.0)
