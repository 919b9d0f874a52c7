"""Config loading: defaults, the shipped YAML, and one clear error per bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest

from townlet.config import (
    ConfigError,
    config_id,
    default_config,
    dump_config,
    load_config,
    with_agents,
)
from townlet.config.preconds import NEED_VARIABLES
from townlet.config.rl import NeedWeights
from townlet.config.world import BODILY_NEEDS, NEEDS, NEGLECT_LIMIT_MAX
from townlet.world import World
from townlet.world.params import build_params
from townlet.world.policy import GOAL_OF_NEED
from townlet.world.state import FIELDS, Need
from townlet.world.town import generate_town

ROOT = Path(__file__).resolve().parent.parent


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_shipped_default_yaml_is_the_embedded_default():
    assert load_config(ROOT / "configs" / "default.yaml") == default_config()
    assert dump_config(default_config()) in (ROOT / "configs" / "default.yaml").read_text()


def test_config_id_is_stable_and_sensitive(tmp_path):
    base = default_config()
    assert config_id(base) == config_id(load_config(_write(tmp_path, "world: {}\n")))
    other = load_config(_write(tmp_path, "world:\n  needs:\n    hunger:\n      decay: 0.002\n"))
    assert config_id(other) != config_id(base)


def test_partial_override_keeps_other_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, "world:\n  needs:\n    hunger:\n      decay: 0.0012\n"))
    assert cfg.world.needs.hunger.decay == 0.0012
    assert cfg.world.needs.hygiene == default_config().world.needs.hygiene


@pytest.mark.parametrize("text, message", [
    ("world:\n  needs:\n    hunger:\n      decay: -1\n",
     "world.needs.hunger.decay: expected float >= 0.0, got -1"),
    ("world:\n  needs:\n    hunger:\n      decay: lots\n",
     "world.needs.hunger.decay: expected float, got str"),
    ("world:\n  colour: blue\n", "world: object contains unknown field colour"),
    ("world:\n  town:\n    agents: 0\n", "world.town.agents: expected int >= 2, got 0"),
    ("world:\n  town:\n    agents: 20000000\n", "world.town.agents: expected int <= 10000000"),
    ("world: [1\n", "not valid YAML"),
    ("- 1\n", "expected a mapping at the top level"),
    ("world:\n  jobs:\n    - {name: x, workplace: office, start: 600, end: 500}\n",
     "invariant 'shift_within_day' violated"),
    ("world:\n  jobs:\n    - {name: x, workplace: office, start: 500, end: 600, wage: 0.001}\n",
     "invariant 'wages_cover_the_basket' violated"),
    ("world:\n  needs:\n    hunger:\n      decay: 0.01\n",
     "invariant 'daily_needs_fit_in_a_day' violated"),
    ("world:\n  economy:\n    grocer_stock: 10\n", "invariant 'supply_covers_demand' violated"),
    ("world:\n  lifecycle:\n    death_after_ticks: 50000\n",
     "world.lifecycle.death_after_ticks: expected int <= 32767, got 50000"),
    ("world:\n  neglect:\n    lonely_after: 32768\n",
     "world.neglect.lonely_after: expected int <= 32767"),
])
def test_bad_configs_name_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert message in str(err.value)


AFFORDANCE = ("world:\n  affordances:\n    - {{id: nap, object_type: bed, duration: 400, "
              "effects: {{energy: 0.9}}, {extra}}}\n")


@pytest.mark.parametrize("extra, message", [
    ("preconds: ['agent.mood > 1']", "unknown variable 'agent.mood'"),
    ("preconds: ['stock >']", "syntax error"),
    ("preconds: ['stock + 1 > 2']", "left side must be a variable"),
    ("preconds: ['__import__(\"os\") == 1']", "left side must be a variable"),
    ("preconds: ['stock > 1 or stock < 0']", "expected 'variable <op> literal' joined by 'and'"),
    ("hooks: {after: [explode]}", "unknown hook 'explode'"),
    ("hooks: {during: [sleep_complete]}", "world.affordances[0].hooks"),
    ("hooks: {before: [sleep_complete]}", "list them under 'after'"),
    ("effects: {mood: 1}", "unknown effect 'mood'"),
])
def test_bad_affordances_name_the_problem(tmp_path, extra, message):
    text = AFFORDANCE.format(extra=extra).replace("effects: {energy: 0.9}, effects:", "effects:")
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert message in str(err.value)


KNOWN_NEEDS = "known: " + ", ".join(NEEDS)


@pytest.mark.parametrize("text, message", [
    ("world:\n  needs:\n    thirst: {decay: 0.001}\n",
     f"world.needs: object contains unknown field thirst ({KNOWN_NEEDS})"),
    ("rl:\n  rewards:\n    needs:\n      thirst: 0.5\n",
     f"rl.rewards.needs: object contains unknown field thirst ({KNOWN_NEEDS})"),
    (AFFORDANCE.format(extra="uses_food: 0").replace("energy: 0.9", "thirst: 0.9"),
     f"unknown effect 'thirst' ({KNOWN_NEEDS}, food)"),
    (AFFORDANCE.format(extra="preconds: ['agent.thirst > 0.5']"),
     "unknown variable 'agent.thirst'"),
])
def test_a_fifth_need_fails_at_load_naming_the_needs(tmp_path, text, message):
    """A config cannot add a need: each place that names needs refuses it at load."""
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert message in str(err.value)


def test_every_need_table_follows_the_need_names():
    """A need added to NeedsConfig reaches every table indexed by need, or fails here."""
    cfg = default_config()
    params = World(with_agents(cfg, 8)).params
    assert NeedWeights.__struct_fields__ == NEEDS
    assert [m.name.lower() for m in Need] == list(NEEDS)
    assert NEED_VARIABLES == tuple(f"agent.{n}" for n in NEEDS)
    assert params.need_decay.tolist() == [np.float32(getattr(cfg.world.needs, n).decay)
                                          for n in NEEDS]
    assert params.aff_effect.shape[1] == len(NEEDS) == len(GOAL_OF_NEED)
    assert set(BODILY_NEEDS) == set(NEEDS) - {"social"}


def test_one_affordance_per_object_type(tmp_path):
    text = ("world:\n  affordances:\n"
            "    - {id: nap, object_type: bed, duration: 400, effects: {energy: 0.9}}\n"
            "    - {id: doze, object_type: bed, duration: 300, effects: {energy: 0.8}}\n")
    with pytest.raises(ConfigError, match="invariant 'one_affordance_per_object_type'"):
        load_config(_write(tmp_path, text))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_cli_reports_config_errors_with_exit_code_2(tmp_path):
    path = _write(tmp_path, "world:\n  needs:\n    hunger:\n      decay: -1\n")
    proc = subprocess.run([sys.executable, "-m", "townlet", "run", "--config", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "world.needs.hunger.decay: expected float >= 0.0, got -1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_rejects_absurd_agent_counts():
    proc = subprocess.run([sys.executable, "-m", "townlet", "run", "--agents", "-5"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "world.town.agents" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_structs_are_frozen():
    with pytest.raises(AttributeError):
        default_config().world.town.agents = 5  # type: ignore[misc]
    assert msgspec.structs.fields(default_config().world)


def _check(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "townlet", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("depth", [1_000, 50_000])
def test_deeply_nested_precondition_is_refused_with_its_key_path(tmp_path, depth):
    path = _write(tmp_path, AFFORDANCE.format(extra=f"preconds: ['stock >= 1', "
                                                    f"'stock > {'-' * depth}1']"))
    proc = _check(path)
    assert proc.returncode == 2, proc.stderr
    assert "world.affordances[0].preconds[1] (nap)" in proc.stderr
    assert "the limit is 200" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr) < 400


def test_preconditions_within_the_limit_parse_or_name_the_problem(tmp_path):
    from townlet.config.preconds import parse_preconds

    assert parse_preconds(["agent.wallet > -1.5"]) == [("agent.wallet", 4, -1.5)]
    nested = AFFORDANCE.format(extra=f"preconds: ['stock > {'-' * 180}1']")
    with pytest.raises(ConfigError, match="right side must be a number"):
        load_config(_write(tmp_path, nested))


def test_oversize_config_is_refused_before_parsing(tmp_path):
    from townlet.config.loader import MAX_CONFIG_BYTES

    path = tmp_path / "big.yaml"
    path.write_text("world:\n  jobs:\n" + "    - 1\n" * (MAX_CONFIG_BYTES // 8))
    proc = _check(path)
    assert proc.returncode == 2, proc.stderr
    assert f"the limit is {MAX_CONFIG_BYTES:,} bytes" in proc.stderr
    assert "Traceback" not in proc.stderr
    with pytest.raises(ConfigError, match="too large for a config file"):
        load_config("/dev/zero")  # endless input: only the limit is ever read


def test_bad_values_are_echoed_briefly(tmp_path):
    path = _write(tmp_path, f"console:\n  endpoint: tcp://{'x' * 100_000}\n")
    with pytest.raises(ConfigError, match="console.endpoint: expected str of length <= 256") as err:
        load_config(path)
    assert len(str(err.value)) < 300


def test_the_longest_neglect_limits_fit_the_counts_that_reach_them(tmp_path):
    """Every neglect limit the config accepts is one the 16-bit counts hold: the state's
    per-agent count and the limits the kernel reads (a longer one overflowed at build)."""
    count = next(f for f in FIELDS if f.name == "agent_neglect")
    assert np.iinfo(count.dtype).max == NEGLECT_LIMIT_MAX
    text = (f"world:\n  lifecycle:\n    death_after_ticks: {NEGLECT_LIMIT_MAX}\n  neglect:\n"
            + "".join(f"    {k}: {NEGLECT_LIMIT_MAX}\n"
                      for k in ("exhausted_after", "unkempt_after", "lonely_after")))
    cfg = with_agents(load_config(_write(tmp_path, text)), 50)
    params = build_params(cfg, generate_town(cfg.world, seed=1))
    assert params.need_neglect.tolist() == [NEGLECT_LIMIT_MAX] * len(NEEDS)
