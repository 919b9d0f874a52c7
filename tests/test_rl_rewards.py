"""Reward terms, clipping, death windows, episode boundaries and embedding slots,
on real state arrays stepped by hand (each change mirrors what a world tick does)."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from rl_town import make_state

from townlet.config import TownletConfig, default_config, with_agents
from townlet.config.money import to_minor
from townlet.rl.episodes import advance, new_step_out, new_track
from townlet.rl.events import event_categories
from townlet.rl.rewards import (
    COMPONENTS,
    END_DEATH,
    END_EXIT,
    END_NONE,
    END_REMOVED,
    apply_death_window,
    build_reward_statics,
)
from townlet.rl.slots import allocate, new_slot_arrays, release_sorted, slot_metrics
from townlet.world.actions import Flag
from townlet.world.events import EventCode
from townlet.world.state import Roster, kernel_state

CHAT, DEATH = EventCode.CHAT_SUCCESS, EventCode.AGENT_DIED
EXIT, REMOVED = EventCode.EXIT_PROCESSED, EventCode.AGENT_KILLED
CATS = event_categories()
C = {name: k for k, name in enumerate(COMPONENTS)}
N = 8


UPSTREAM = {"survival": 0.002, "needs": {"hunger": 1.0, "hygiene": 0.6, "energy": 0.8,
                                           "social": 0.4},
            "needs_comfort": 1.0, "wage_rate": 0.01, "death_penalty": -5.0,
            "social": {"by_deficit": False}, "clip": {"per_episode": 200.0}}
"""The upstream form and weights (SPEC/learning.md §4.2): the term tests below use
them, so each term is checked against the spec's numbers; the shipped defaults
have their own tests."""


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


def config(upstream: bool = True, **rl) -> TownletConfig:
    raw = msgspec.to_builtins(with_agents(default_config(), N))
    if upstream:
        rl["rewards"] = _merge(UPSTREAM, rl.get("rewards", {}))
    raw["rl"] = rl
    return msgspec.convert(raw, TownletConfig)


class Harness:
    """A state, the RL tracker and one call to ``advance`` per simulated tick."""

    def __init__(self, cfg: TownletConfig, max_slots: int | None = None):
        self.cfg = cfg
        self.st, _, self.world = make_state(cfg)
        self.st.agent_needs[:] = 0.8
        self.ks = kernel_state(self.st)
        self.n = self.st.agent_alive.size
        self.rs = build_reward_statics(cfg, CATS)
        self.tr = new_track(self.n, max_slots or 2 * self.n)
        self.out = new_step_out(self.n)
        self.comp64 = np.zeros(self.out.comp.shape)
        self.controlled = np.ones(self.n, bool)
        self.tick()

    def tick(self, events=()):
        self.st.clock[0] += 1
        for e, (code, a, b, value) in enumerate(events):
            self.st.evt_code[e], self.st.evt_agent[e] = code, a
            self.st.evt_other[e], self.st.evt_value[e] = b, value
        self.st.evt_len[0] = len(events)
        advance(self.ks, self.rs, self.tr, self.out, self.controlled, self.comp64)
        return self.out


def test_first_tick_starts_every_episode_and_assigns_slots():
    h = Harness(config())
    assert h.out.new_agent.all() and h.out.episode_start.all() and h.out.ctx_reset.all()
    assert h.tr.emb_of.tolist() == list(range(N))
    assert not h.out.reward.any() and not h.out.terminated.any()


def test_living_reward_terms():
    h = Harness(config())
    st = h.st
    st.agent_needs[:] = 0.8
    out = h.tick()
    want = 0.002 - (1.0 + 0.6 + 0.8 + 0.4) * 0.2 ** 2
    np.testing.assert_allclose(out.reward, want, rtol=1e-6)
    np.testing.assert_allclose(out.comp[:, C["total"]], out.reward)
    assert out.acted.all() and not out.episode_start.any()
    # wage: one tick of full wage for agent 0, a daily reset for agent 1, withheld for agent 2
    wage = to_minor(h.cfg.world.jobs[st.agent_job[0]].wage)
    st.agent_wages_today[0] += wage
    st.agent_wages_today[1] = to_minor(2.0)
    h.tick()
    st.agent_wages_today[1] = to_minor(h.cfg.world.jobs[st.agent_job[1]].wage)  # new day + 1 tick
    st.agent_withheld[2] += to_minor(h.cfg.world.jobs[st.agent_job[2]].wage)
    st.agent_wages_today[0] += wage
    out = h.tick()
    np.testing.assert_allclose(out.comp[[0, 1, 2], C["wage"]], [0.01, 0.01, -0.01], rtol=1e-5)
    # punctuality: arrival 15 ticks after the shift start pays half the bonus, once
    def start_of(i):  # the job's start shifted by the agent's shift pattern
        job = h.cfg.world.jobs[st.agent_job[i]]
        return job.start + int(st.agent_roster[i, Roster.PATTERN]) * job.stagger_ticks

    start = start_of(3)
    st.clock[0] = 3 * h.cfg.world.ticks_per_day + start + 14
    st.agent_flags[3] |= Flag.ARRIVED
    st.agent_flags[4] |= Flag.ARRIVED
    out = h.tick()
    start4 = start_of(4)
    assert out.comp[3, C["punctuality"]] == pytest.approx(0.05 * (1 - 15 / 30))
    late4 = max(0, 15 + start - start4)
    assert out.comp[4, C["punctuality"]] == pytest.approx(0.05 * max(0.0, 1 - late4 / 30))
    out = h.tick()
    assert out.comp[3, C["punctuality"]] == 0.0


def test_clipping_and_faint_survives_it():
    h = Harness(config())
    st = h.st
    st.agent_needs[0] = 0.0
    st.agent_flags[1] |= Flag.FAINTED
    out = h.tick()
    base = 0.002 - 2.8
    assert out.reward[0] == pytest.approx(-1.0)
    assert out.comp[0, C["clip_adjustment"]] == pytest.approx(-1.0 - base, rel=1e-5)
    assert out.comp[1, C["faint"]] == -1.0
    assert out.reward[1] == pytest.approx(-1.0 + 0.002 - 2.8 * 0.04, rel=1e-5)
    assert h.tick().comp[1, C["faint"]] == 0.0  # only the tick it happens


def test_per_episode_clip_holds_the_running_total():
    h = Harness(config(rewards={"clip": {"per_episode": 1.0}}, truncate_ticks=0))
    total = 0.0
    for _ in range(12):
        total += float(h.tick().reward[0])
    assert total == pytest.approx(-1.0, abs=1e-5)
    assert h.tick().reward[0] == pytest.approx(0.0, abs=1e-6)


def test_death_exit_removal_and_newcomer():
    h = Harness(config())
    st, tr = h.st, h.tr
    st.agent_flags[1] |= Flag.EXIT_PENDING
    h.tick()
    st.agent_alive[[0, 1, 2, 3]] = 0
    out = h.tick(events=[(DEATH, 0, -1, 0.0), (REMOVED, 2, -1, 0.0)])
    assert out.terminated[[0, 1, 2, 3]].all() and not out.terminated[4:].any()
    assert out.end_kind[:4].tolist() == [END_DEATH, END_EXIT, END_REMOVED, END_DEATH]
    assert out.reward[:4].tolist() == [-5.0, -2.0, 0.0, -5.0]
    assert out.comp[0, C["terminal"]] == -5.0
    assert out.final_length[0] == 2 and out.final_return[0] == pytest.approx(
        (0.002 - 2.8 * 0.04) - 5.0, rel=1e-5)
    assert (tr.emb_of[:4] == -1).all() and out.acted[:4].all()
    out = h.tick()  # empty slots: nothing happens
    assert not out.terminated.any() and not out.acted[:4].any() and not out.reward[:4].any()
    st.agent_alive[0] = 1
    st.agent_gen[0] += 1
    st.agent_needs[0] = 1.0
    out = h.tick()
    assert out.new_agent[0] and out.episode_start[0] and out.ctx_reset[0]
    assert tr.emb_of[0] == N  # a never-used slot first
    out = h.tick()  # within the death window: the positive survival reward is withheld
    assert out.reward[0] == 0.0 and out.comp[0, C["survival"]] == pytest.approx(0.002)
    for _ in range(10):
        out = h.tick()
    assert out.reward[0] == pytest.approx(0.002)


def test_replacement_within_one_tick_ends_and_starts():
    h = Harness(config())
    h.st.agent_gen[5] += 1
    out = h.tick()
    assert out.terminated[5] and out.new_agent[5] and out.end_kind[5] == END_DEATH
    assert out.reward[5] == -5.0 and h.tr.emb_of[5] == N


def test_truncation_restarts_the_episode_but_not_the_agent():
    h = Harness(config(truncate_ticks=3))
    for _ in range(2):
        assert not h.tick().truncated.any()
    out = h.tick()
    assert out.truncated.all() and out.episode_start.all() and not out.new_agent.any()
    assert (out.final_length == 3).all() and not out.terminated.any()
    assert h.tr.emb_of.tolist() == list(range(N))
    assert not h.tick().truncated.any()


def test_chat_reward_uses_own_ties_and_need_floor():
    h = Harness(config())
    st = h.st
    st.rel_other[0, 0], st.rel_trust[0, 0], st.rel_fam[0, 0] = 1, 0.5, 0.5
    st.agent_needs[2, 0] = 0.1  # hungry: no social reward
    out = h.tick(events=[(CHAT, 0, 1, 0.8), (CHAT, 2, 3, 1.0)])
    assert out.comp[0, C["social"]] == pytest.approx((0.01 + 0.15 + 0.10) * 0.8)
    assert out.comp[1, C["social"]] == pytest.approx(0.01 * 0.8)
    assert out.comp[2, C["social"]] == 0.0 and out.comp[3, C["social"]] == pytest.approx(0.01)
    off = Harness(config(rewards={"social": {"stage": "off"}}))
    out = off.tick(events=[(CHAT, 0, 1, 0.8)])
    assert not out.comp[:, C["social"]].any()


def test_default_needs_penalty_is_zero_in_comfort_and_weight_at_zero():
    h = Harness(config(upstream=False))
    w = h.cfg.rl.rewards.needs
    c = h.cfg.rl.rewards.needs_comfort
    h.st.agent_needs[0] = c          # at the comfort level: nothing
    h.st.agent_needs[1] = 1.0
    h.st.agent_needs[2] = [0.0, c, c, c]   # starving: the hunger weight per tick
    h.st.agent_needs[3] = [c / 2, c, c, c]
    out = h.tick()
    assert out.comp[0, C["needs"]] == 0.0 and out.comp[1, C["needs"]] == 0.0
    assert out.comp[2, C["needs"]] == pytest.approx(-w.hunger)
    assert out.comp[3, C["needs"]] == pytest.approx(-w.hunger / 4)
    assert out.comp[0, C["survival"]] == pytest.approx(h.cfg.rl.rewards.survival)


def test_default_chat_reward_shrinks_with_the_social_need():
    h = Harness(config(upstream=False))
    st = h.st
    st.agent_needs[:, 3] = [0.2, 1.0, 0.5, 0.5, 0.8, 0.8, 0.8, 0.8]
    out = h.tick(events=[(CHAT, 0, 1, 1.0)])
    base = h.cfg.rl.rewards.social.chat_base
    assert out.comp[0, C["social"]] == pytest.approx(base * 0.8, rel=1e-5)
    assert out.comp[1, C["social"]] == 0.0   # satisfied: more talk is worth nothing


def test_possessed_agents_are_not_policy_transitions():
    h = Harness(config())
    h.st.agent_flags[0] |= Flag.POSSESSED
    h.controlled[1] = False
    out = h.tick()
    assert not out.acted[0] and not out.acted[1] and out.acted[2:].all()
    assert out.ctx_reset[0] and not out.ctx_reset[2]


def test_apply_death_window_is_retroactive_within_the_slot():
    rewards = np.array([[0.5, 0.5], [0.5, -0.2], [0.3, 0.5], [-1.0, 0.5], [0.4, 0.5]],
                       np.float32)
    kinds = np.zeros_like(rewards, dtype=np.int8)
    kinds[3, 0] = END_DEATH
    kinds[1, 1] = END_REMOVED
    kinds[4, 1] = END_EXIT
    changed = apply_death_window(rewards, kinds, 2)
    assert rewards[:, 0].tolist() == pytest.approx([0.5, 0.0, 0.0, -1.0, 0.4])
    assert rewards[:, 1].tolist() == pytest.approx([0.5, -0.2, 0.0, 0.0, 0.5])
    assert changed == 4
    kinds[2, 1] = END_REMOVED  # an earlier agent's end stops the walk back
    rewards[:, 1] = 0.5
    apply_death_window(rewards, kinds, 5)
    assert rewards[:, 1].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.0, 0.5])
    assert END_NONE == 0


def test_slot_allocator_order_cooldown_and_forced_reuse():
    fifo, release, meta = new_slot_arrays(4)
    got = [allocate(fifo, release, meta, 0, 10) for _ in range(4)]
    assert got == [0, 1, 2, 3]
    assert allocate(fifo, release, meta, 0, 10) == -1
    scratch = np.array([3, 1, 0, 0], np.int32)
    release_sorted(fifo, release, meta, scratch, 2, 5)  # slots 3 and 1 at tick 5
    scratch[0] = 2
    release_sorted(fifo, release, meta, scratch, 1, 7)
    assert allocate(fifo, release, meta, 20, 10) == 1  # cooled, earliest, lower index
    assert allocate(fifo, release, meta, 20, 10) == 3
    assert allocate(fifo, release, meta, 8, 10) == 2  # not cooled: forced
    m = slot_metrics(meta, 0.05)
    assert m == {"allocations_total": 7, "forced_reuse_count": 1,
                 "forced_reuse_rate": 1 / 7, "reuse_warning": True}
