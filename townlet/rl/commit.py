"""Option commitment: which slots decide on the next step (SPEC/learning.md §3.3).

An option (``GO_*``) hands an agent to the world's navigation until it is done:
walk, queue, run the affordance. With ``rl.commit.enabled`` the policy is not asked
again while it runs: the slot's mask narrows to ``WAIT`` (continue) and
``decide`` is false, so one decision covers the whole behaviour and learning
happens at option boundaries (an SMDP). A running affordance, however it started,
commits the same way. The commitment breaks for one decision when a need falls
below its ``critical`` level (``break_on_critical``; the edge, not the level, so a
choice to continue is honoured), at a new episode and at a context cut (teleport,
possession). A slot with a single allowed action (fainted, empty, possessed) never
decides: its forced step belongs to the previous decision.

``TownletVectorEnv.step`` replaces a committed slot's action by ``WAIT`` (an
``Action.SCRIPTED`` code passes through: the world's controller continues the
option itself), so a policy cannot leave an option early by ignoring the mask.
"""

from __future__ import annotations

from numba import njit

from townlet.world.actions import A

__all__ = ["commit"]


@njit(cache=True)
def commit(st, kp, enabled, break_on_critical, episode_start, ctx_reset, controlled, crit_bits,
           mask, decide):
    """Fill ``decide`` (N,) bool and narrow committed rows of ``mask`` to ``WAIT``.

    ``crit_bits`` (N,) uint8 carries each slot's critical needs (bit n: need n below
    its critical level) from the previous call; updated here.
    """
    n_needs = st.agent_needs.shape[1]
    for i in range(decide.shape[0]):
        bits = 0
        if st.agent_alive[i]:
            for k in range(n_needs):
                if st.agent_needs[i, k] < kp.need_crit[k]:
                    bits |= 1 << k
        newly = bits & ~crit_bits[i]
        crit_bits[i] = bits
        m = mask[i]
        choices = 0
        for a in range(m.shape[0]):
            choices += m[a]
        if not controlled[i] or choices < 2:
            decide[i] = False
            continue
        held = enabled and (st.agent_option[i] != 0 or st.agent_aff[i] >= 0)
        if held and (episode_start[i] or ctx_reset[i] or (break_on_critical and newly != 0)):
            held = False
        decide[i] = not held
        if held:
            m[:] = False
            m[A.WAIT] = True

