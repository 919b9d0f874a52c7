"""A learned policy drives a real town through the simulation loop: batched, annealed
deterministically, and the frames' and snapshots' identity says so."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="needs the rl extra")
pytest.importorskip("torch", reason="needs the rl extra")

from _pilot import config, eating_policy, waiting_policy

from townlet.config.pilot import AnnealConfig, AnnealPoint
from townlet.pilot.anneal import Anneal
from townlet.pilot.driver import PolicyDriver
from townlet.pilot.policy import LayoutMismatch, LoadedPolicy
from townlet.sim.loop import Simulation
from townlet.snapshots.format import PolicyIdentity
from townlet.snapshots.world_io import capture_world

RAMP = {"schedule": [{"tick": 0, "ratio": 0.2}, {"tick": 40, "ratio": 0.8}]}


def _run(cfg, policy, ticks=60, seed=5):
    sim = Simulation(cfg, seed)
    driver = PolicyDriver(sim, policy).attach()
    shares, learned = [], []
    for _ in range(ticks):
        sim.step()
        shares.append(sim.identity.anneal_ratio)
        learned.append(driver.learned.copy())
    return sim, np.array(shares), np.array(learned)


def test_anneal_is_deterministic_follows_the_schedule_and_keeps_agents(tmp_path):
    cfg = config(tmp_path, anneal=RAMP)
    a_sim, a_share, a_learned = _run(cfg, eating_policy(cfg))
    b_sim, b_share, b_learned = _run(cfg, eating_policy(cfg))
    assert a_sim.world.state_hash() == b_sim.world.state_hash()
    assert (a_learned == b_learned).all() and (a_share == b_share).all()
    assert a_share[0] == pytest.approx(0.2) and a_share[40] == pytest.approx(0.8)
    assert a_share[50] == pytest.approx(0.8), "flat after the last point"
    assert 0 < a_learned[0].sum() < a_learned[-1].sum() < 40
    # unit "agents": an agent once learned stays learned while the ratio grows
    grown = a_learned[1:41] >= a_learned[:40]
    assert grown.all()
    scripted = Simulation(cfg, 5)
    for _ in range(60):
        scripted.step()
    assert scripted.world.state_hash() != a_sim.world.state_hash(), "the policy acted"


def test_decisions_unit_draws_per_tick_and_the_identity_reaches_snapshots(tmp_path):
    cfg = config(tmp_path, anneal={"unit": "decisions", "schedule": [{"tick": 0, "ratio": 0.5}]})
    sim, _, learned = _run(cfg, eating_policy(cfg), ticks=5)
    assert (learned[0] != learned[1]).any(), "a fresh coin every decision"
    ident = sim.identity
    assert ident.policy_name == "b-eater" and ident.policy_hash == "b" * 64
    assert ident.anneal_unit == "decisions" and ident.anneal_ratio == 0.5
    assert ident.learned_agents == int(learned[-1].sum())
    header, _ = capture_world(sim.world, None, identity=sim.identity)
    assert header.identity == ident


def test_anneal_draw_depends_only_on_keys_tick_and_generation():
    anneal = Anneal(AnnealConfig(schedule=(AnnealPoint(tick=0, ratio=0.5),)), 1000)
    keys = np.array([1, 2, 3, 4], np.uint64)
    out_a, out_b = np.zeros(1000, bool), np.zeros(1000, bool)
    anneal.learned(keys, 7, np.zeros(1000, np.uint32), out_a)
    anneal.learned(keys, 99, np.zeros(1000, np.uint32), out_b)
    assert (out_a == out_b).all() and 400 < out_a.sum() < 600
    anneal.learned(keys, 7, np.ones(1000, np.uint32), out_b)
    assert (out_a != out_b).any(), "a newcomer in the slot draws anew"


def test_a_policy_for_another_layout_is_refused(tmp_path):
    cfg = config(tmp_path)
    other = LoadedPolicy(act=waiting_policy(cfg).act, name="other", policy_hash="c" * 64,
                         variant="compact", layout_hash="0" * 64)
    with pytest.raises(LayoutMismatch, match="trained on compact observations with layout "
                                             "000000000000"):
        PolicyDriver(Simulation(cfg, 0), other)


def test_swapping_to_none_hands_every_agent_back_to_the_scripted_policy(tmp_path):
    cfg = config(tmp_path)
    sim = Simulation(cfg, 1)
    driver = PolicyDriver(sim, eating_policy(cfg)).attach()
    sim.step()
    assert sim.identity.learned_agents == 40
    driver.swap(None)
    sim.step()
    assert sim.identity == PolicyIdentity() and not driver.learned.any()
