"""Everything ``TownletVectorEnv`` computes after a world tick, as one compiled call.

``StepBuffers`` holds the env's tables and output arrays (statics, reward tables,
trackers, observation, mask and info buffers, the window scratch) as one
by-reference struct, so a step dispatches ``after_tick(st, kp, buffers)``: three
arguments whose types Numba resolves in well under a microsecond, where the same
arrays as named tuples and loose arguments cost ~11 µs per call (the tuples are
typed element by element in Python on every call). ``after_tick`` runs rewards and
episodes, observations, masks, commitment and the ``infos`` flags on borrowed
views (``townlet.world.borrow``, ``townlet.rl.unowned``).
"""

from __future__ import annotations

from numba import njit, types
from numba.experimental import structref

from townlet.rl.commit import commit
from townlet.rl.encode import encode
from townlet.rl.episodes import advance
from townlet.rl.masks import action_masks
from townlet.rl.unowned import unowned
from townlet.world.actions import Flag
from townlet.world.borrow import borrowed
from townlet.world.jit import INTERPRETED

__all__ = ["STEP_BUFFERS", "StepBuffers", "after_tick", "info_flags", "step_buffers"]

STEP_BUFFERS = (
    "sx", "rs", "tr", "out", "controlled", "comp64", "obs_map", "obs_feat", "obs_ids", "mask",
    "lm_key", "ws", "commit_on", "commit_crit", "decide", "alive", "possessed",
    "ctx_reset", "done",
)
"""Fields of ``StepBuffers``: statics, reward tables, ``Track``, ``StepOut``, then the
env's arrays; ``alive``/``possessed``/``ctx_reset``/``done`` are the (N,) bool
``infos`` flags."""


@structref.register
class StepBuffersType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class StepBuffers(structref.StructRefProxy):
    """The env's per-step tables and buffers as one struct (shared, not copied)."""


structref.define_proxy(StepBuffers, StepBuffersType, list(STEP_BUFFERS))


@njit(cache=True)
def _new_step_buffers(sx, rs, tr, out, controlled, comp64, obs_map, obs_feat, obs_ids, mask,
                      lm_key, ws, commit_on, commit_crit, decide, alive, possessed,
                      ctx_reset, done):
    """``StepBuffers(...)`` compiled once and cached (see ``townlet.world.state``)."""
    return StepBuffers(sx, rs, tr, out, controlled, comp64, obs_map, obs_feat, obs_ids, mask,
                       lm_key, ws, commit_on, commit_crit, decide, alive, possessed,
                       ctx_reset, done)


class _Plain:
    """The buffers as plain attributes for interpreted kernels (``NUMBA_DISABLE_JIT=1``)."""

    def __init__(self, *values):
        for name, value in zip(STEP_BUFFERS, values, strict=True):
            setattr(self, name, value)


def step_buffers(*values):
    """``StepBuffers`` over ``values`` in ``STEP_BUFFERS`` order."""
    return _Plain(*values) if INTERPRETED else _new_step_buffers(*values)


@njit(cache=True)
def info_flags(st, out, alive, possessed, ctx_reset, done):
    """The ``infos`` flags from the world state and this step's results; returns
    whether any slot's agent is alive."""
    any_alive = False
    for i in range(alive.shape[0]):
        a = st.agent_alive[i] != 0
        alive[i] = a
        any_alive |= a
        possessed[i] = (st.agent_flags[i] & Flag.POSSESSED) != 0
        ctx_reset[i] = out.ctx_reset[i] != 0
        done[i] = out.terminated[i] or out.truncated[i]
    return any_alive


@njit(cache=True)
def after_tick(st, kp, b):
    """Rewards and episodes for the tick just run, then observations, masks, which
    slots decide next (``townlet.rl.commit``) and the ``infos`` flags; returns
    whether any slot's agent is alive. Every pass works on borrowed views: no
    atomic reference counting per array access."""
    st, kp = borrowed(st), borrowed(kp)
    sx, rs, tr, out, ws = unowned(b.sx), unowned(b.rs), unowned(b.tr), unowned(b.out), \
        unowned(b.ws)
    controlled, comp64, mask, decide = (unowned(b.controlled), unowned(b.comp64),
                                        unowned(b.mask), unowned(b.decide))
    obs_map, obs_feat, obs_ids = unowned(b.obs_map), unowned(b.obs_feat), unowned(b.obs_ids)
    lm_key = unowned(b.lm_key)
    advance(st, rs, tr, out, controlled, comp64)
    encode(st, sx, kp, tr.emb_of, tr.ep_len, out.ctx_reset, obs_map, obs_feat, obs_ids,
           lm_key, ws)
    action_masks(st, sx, kp, mask, controlled)
    commit(st, kp, b.commit_on, b.commit_crit, out.episode_start, out.ctx_reset, controlled,
           tr.crit, mask, decide)
    return info_flags(st, out, unowned(b.alive), unowned(b.possessed), unowned(b.ctx_reset),
                      unowned(b.done))
