"""Checkpoints: identical actions after a round trip, identity and counters kept,
atomic retention, and every refusal (other layout, edited weights, foreign or
malicious file) with a clear error."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the rl extra")

from townlet.config import default_config, with_agents
from townlet.rl import TownletVectorEnv
from townlet.rl.layout import build_layout
from townlet.train.checkpoint import (
    CheckpointError,
    CheckpointStore,
    Counters,
    load_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from townlet.train.nets import NetConfig, PolicyNet
from townlet.train.policy import Policy, PolicyIdentity, load_policy

CFG = with_agents(default_config(), 16)


@pytest.fixture(scope="module")
def town():
    env = TownletVectorEnv(CFG, variant="compact")
    obs, infos = env.reset(seed=1)
    for _ in range(30):
        obs, _, _, _, infos = env.step(np.zeros(env.num_envs, np.int64))
    return env, {k: v.copy() for k, v in obs.items()}, infos["action_mask"].copy()


def _net(layout, seed=0) -> PolicyNet:
    torch.manual_seed(seed)
    return PolicyNet(NetConfig.for_layout(layout))


def test_round_trip_gives_identical_actions_and_keeps_identity(tmp_path, town):
    env, obs, mask = town
    net = _net(env.layout)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.from_numpy(obs["map"]), torch.from_numpy(obs["features"]))[1].sum().backward()
    opt.step()
    meta = save_checkpoint(tmp_path / "a.pt", net, env.layout, config_id="cfg", optimizer=opt,
                           counters=Counters(updates=3, agent_steps=48), training={"algo": "t"})
    ident = PolicyIdentity(policy_hash=meta.policy_hash, variant="compact",
                           layout_hash=env.layout.layout_hash,
                           action_space_hash=meta.action_space_hash, config_id="cfg")
    before = Policy(net, ident, seed=5)
    after = load_policy(tmp_path / "a.pt", env.layout, seed=5)
    assert after.identity == before.identity
    for greedy in (True, False, False):
        a, b = before(obs, mask, greedy=greedy), after(obs, mask, greedy=greedy)
        assert np.array_equal(a, b)
        assert mask[np.arange(len(a)), a].all()
    ckpt = load_checkpoint(tmp_path / "a.pt")
    assert ckpt.meta.counters == Counters(updates=3, agent_steps=48)
    assert ckpt.meta.training == {"algo": "t"}
    opt2 = torch.optim.Adam(ckpt.build_net().parameters(), lr=1e-3)
    opt2.load_state_dict(ckpt.optimizer)
    assert opt2.state_dict()["state"][0]["step"] == 1


def test_rng_states_resume_the_same_draws():
    gen = np.random.default_rng(3)
    state = rng_state(gen)
    first = (torch.rand(3), gen.random(3))
    restore_rng(state, gen)
    assert torch.equal(torch.rand(3), first[0])
    assert np.array_equal(gen.random(3), first[1])


def test_other_layout_is_refused_with_the_difference(tmp_path, town):
    env, _, _ = town
    save_checkpoint(tmp_path / "c.pt", _net(env.layout), env.layout, config_id="cfg")
    hybrid = build_layout(CFG, "hybrid")
    with pytest.raises(CheckpointError, match=r"trained on observation layout compact/.*"
                       r"this environment has hybrid/.*variant 'compact' vs 'hybrid'.*"
                       r"--variant compact"):
        load_policy(tmp_path / "c.pt", hybrid)


def test_edited_weights_are_refused(tmp_path, town):
    env, _, _ = town
    save_checkpoint(tmp_path / "c.pt", _net(env.layout), env.layout, config_id="cfg")
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    raw["weights"]["policy.bias"][0] += 1.0
    torch.save(raw, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="do not match policy_hash"):
        load_checkpoint(tmp_path / "c.pt")


class _Payload:
    """Unpickling this with plain pickle would create a file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_objects_never_run(tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"format": "townlet-checkpoint-1", "meta": _Payload(tmp_path / "pwned")}, bad)
    with pytest.raises(CheckpointError, match="not a readable townlet checkpoint"):
        load_checkpoint(bad)
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "junk.pt").write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "other.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="other.pt"):
        load_checkpoint(tmp_path / "other.pt")


def test_store_keeps_the_newest_and_leaves_no_temp_files(tmp_path, town):
    env, _, _ = town
    store = CheckpointStore(tmp_path / "run", retain=2)
    assert store.latest() is None
    net = _net(env.layout)
    for u in (1, 2, 3):
        store.save(net, env.layout, config_id="cfg", counters=Counters(updates=u))
    assert [p.name for p in store.paths()] == ["ckpt-00000002.pt", "ckpt-00000003.pt"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "ckpt-00000002.pt", "ckpt-00000003.pt"]
    assert load_checkpoint(store.latest()).meta.counters.updates == 3
    with pytest.raises(ValueError, match="retain"):
        CheckpointStore(tmp_path, retain=0)
