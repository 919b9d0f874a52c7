"""The GAE helper on hand-computed rollouts: plain continuation, a death, a
truncation (bootstrap without crossing into the next episode), an empty slot, a
possessed stretch (transitions that were not the policy's) and committed options
(rows that do not decide: Monte-Carlo inside the option, λ only at decisions)."""

from __future__ import annotations

import numpy as np
import pytest

from townlet.train.gae import gae

G, L = 0.5, 0.5


def col(*xs, dtype=np.float64):
    return np.array(xs, dtype=dtype)[:, None]


def run(r, v, nv, acted=None, term=None, trunc=None, decide=None):
    T = len(r)
    no = np.zeros((T, 1), bool)
    return gae(col(*r), col(*v), np.array([nv], float),
               np.ones((T, 1), bool) if acted is None else col(*acted, dtype=bool),
               no if term is None else col(*term, dtype=bool),
               no if trunc is None else col(*trunc, dtype=bool), gamma=G, lam=L,
               decide=None if decide is None else col(*decide, dtype=bool))


def test_continuing_episode_bootstraps_from_the_last_observation():
    adv, ret = run([1, 2], [0.5, 1.0], 4.0)
    d1 = 2 + G * 4.0 - 1.0            # 3.0
    d0 = 1 + G * 1.0 - 0.5            # 1.0
    assert adv[:, 0] == pytest.approx([d0 + G * L * d1, d1])
    assert ret[:, 0] == pytest.approx([d0 + G * L * d1 + 0.5, d1 + 1.0])


def test_death_stops_bootstrap_and_trace():
    adv, _ = run([1, -10, 3], [0.5, 1.0, 2.0], 8.0, term=[0, 1, 0])
    d2 = 3 + G * 8.0 - 2.0            # 5.0, the newcomer's first step
    d1 = -10 - 1.0                    # no bootstrap past the death
    d0 = 1 + G * 1.0 - 0.5
    assert adv[:, 0] == pytest.approx([d0 + G * L * d1, d1, d2])


def test_truncation_bootstraps_but_does_not_cross_into_the_next_episode():
    adv, _ = run([1, 2, 3], [0.5, 1.0, 2.0], 8.0, trunc=[0, 1, 0])
    d2 = 3 + G * 8.0 - 2.0
    d1 = 2 + G * 2.0 - 1.0            # bootstraps from V(o_2) ...
    d0 = 1 + G * 1.0 - 0.5
    assert adv[:, 0] == pytest.approx([d0 + G * L * d1, d1, d2])  # ... A_1 ignores A_2


def test_empty_slot_after_a_death_is_skipped():
    # t0 dies; t1 the slot is empty (not acted, reward 0); t2 a newcomer acts
    adv, ret = run([1, 0, 3], [0.5, 0.0, 2.0], 8.0, acted=[1, 0, 1], term=[1, 0, 0])
    assert adv[:, 0] == pytest.approx([1 - 0.5, 0.0, 3 + G * 8.0 - 2.0])
    assert ret[1, 0] == 0.0


def test_possessed_stretch_cuts_the_trace_but_bootstraps():
    # t1 possessed (not the policy's action): t0 bootstraps from V(o_1) alone
    adv, _ = run([1, 5, 3], [0.5, 1.0, 2.0], 8.0, acted=[1, 0, 1])
    assert adv[:, 0] == pytest.approx([1 + G * 1.0 - 0.5, 0.0, 3 + G * 8.0 - 2.0])


def test_columns_are_independent_and_shapes_are_checked():
    r = np.array([[1.0, 1.0], [2.0, -10.0]])
    v = np.array([[0.5, 0.5], [1.0, 1.0]])
    term = np.array([[0, 0], [0, 1]], bool)
    adv, _ = gae(r, v, np.array([4.0, 4.0]), np.ones((2, 2), bool), term,
                 np.zeros((2, 2), bool), gamma=G, lam=L)
    assert adv[:, 0] == pytest.approx(run([1, 2], [0.5, 1.0], 4.0)[0][:, 0])
    assert adv[1, 1] == pytest.approx(-11.0)
    with pytest.raises(ValueError, match="acted has shape"):
        gae(r, v, np.zeros(2), np.ones((3, 2), bool), term, term)
    with pytest.raises(ValueError, match="next_value"):
        gae(r, v, np.zeros(3), term, term, term)


def test_an_option_sums_its_rewards_and_mixes_lambda_only_at_the_next_decision():
    # t0 decides an option that runs through t1, t2; t3 decides again
    v = [0.5, 1.0, 2.0, 3.0]
    adv, ret = run([1, 2, 3, 4], v, 8.0, decide=[1, 0, 0, 1])
    g3 = 4 + G * 8.0                          # the last row bootstraps from V(o_T)
    g2 = 3 + G * ((1 - L) * 3.0 + L * g3)     # t3 decides: λ mixes V(o_3) and G_3
    g1 = 2 + G * g2                           # inside the option: no λ
    g0 = 1 + G * g1
    assert ret[:, 0] == pytest.approx([g0, g1, g2, g3])
    assert adv[:, 0] == pytest.approx([g0 - 0.5, g1 - 1.0, g2 - 2.0, g3 - 3.0])
    assert adv[0, 0] == pytest.approx(1 + G * 2 + G**2 * 3 + G**3 * ((1 - L) * 3.0 + L * g3)
                                      - 0.5)


def test_every_row_deciding_is_plain_gae():
    r, v = [1, -2, 3, 0.5], [0.5, 1.0, -2.0, 0.25]
    for term, trunc in (([0, 0, 0, 0], [0, 0, 0, 0]), ([0, 1, 0, 0], [0, 0, 1, 0])):
        plain = run(r, v, 4.0, term=term, trunc=trunc)
        same = run(r, v, 4.0, term=term, trunc=trunc, decide=[1, 1, 1, 1])
        np.testing.assert_allclose(plain[0], same[0], rtol=1e-6)


def test_options_end_at_a_death_or_a_truncation():
    # an option cut by death at t1: no bootstrap; by truncation at t1: V(o_2)
    adv, _ = run([1, -10, 3], [0.5, 1.0, 2.0], 8.0, term=[0, 1, 0], decide=[1, 0, 1])
    assert adv[0, 0] == pytest.approx(1 + G * -10 - 0.5)
    adv, _ = run([1, 2, 3], [0.5, 1.0, 2.0], 8.0, trunc=[0, 1, 0], decide=[1, 0, 1])
    assert adv[0, 0] == pytest.approx(1 + G * (2 + G * 2.0) - 0.5)
    # a possessed tick inside an option cuts it: t0's option bootstraps from V(o_1)
    adv, _ = run([1, 5, 3], [0.5, 1.0, 2.0], 8.0, acted=[1, 0, 1], decide=[1, 0, 0])
    assert adv[0, 0] == pytest.approx(1 + G * 1.0 - 0.5)
