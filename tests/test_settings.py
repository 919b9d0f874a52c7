"""One definition per setting: the publisher's settings struct and the one key directory."""

from __future__ import annotations

import json
import subprocess
import sys

import msgspec
import pytest

from townlet.config import ConfigError, load_config
from townlet.config.paths import KEYS_DIR
from townlet.config.telemetry import PublisherSettings, TelemetryConfig, publisher_settings
from townlet.publish.cli import publish_command
from townlet.publish.spawn import publisher_args


def _cli_settings(args: list[str]) -> PublisherSettings:
    """The PublisherSettings `townlet publish ARGS` would run with (parsed, not started)."""
    ctx = publish_command.make_context("publish", args[1:])
    values = {k: v for k, v in ctx.params.items()
              if k not in ("ring", "doorbell", "key_dir", "server_key", "registry", "restarts")}
    return publisher_settings(values)


def test_publish_cli_defaults_are_the_settings_defaults():
    assert _cli_settings(["publish", "--ring", "/r"]) == PublisherSettings()
    assert TelemetryConfig().metrics_port == PublisherSettings().metrics_port == 0
    params = {p.name for p in publish_command.params}
    assert set(PublisherSettings.__struct_fields__) <= params, "every setting is an option"


def test_spawned_publisher_gets_every_setting_of_the_config():
    tel = TelemetryConfig(endpoint="tcp://127.0.0.1:9", insecure_dev=True, keyframe_interval=7,
                          keyframe_min_seconds=0.5, hwm=3, metrics_port=1234,
                          metrics_host="127.0.0.2", health_seconds=0.25, poll_ms=9, nice=3)
    args = publisher_args("/townlet-1-ab", "ipc:///tmp/x.bell", tel, key_dir="k", restarts=2)
    assert _cli_settings(args) == publisher_settings(tel)
    ctx = publish_command.make_context("publish", args[1:])
    assert (ctx.params["ring"], ctx.params["doorbell"], ctx.params["restarts"]) == (
        "/townlet-1-ab", "ipc:///tmp/x.bell", 2)


def test_out_of_range_settings_are_refused_the_same_way_everywhere(tmp_path):
    with pytest.raises(ValueError, match="hwm"):
        publisher_settings({"hwm": 0})
    (tmp_path / "c.yaml").write_text("telemetry:\n  hwm: 0\n")
    with pytest.raises(ConfigError, match="telemetry.hwm"):
        load_config(tmp_path / "c.yaml")
    res = subprocess.run([sys.executable, "-m", "townlet", "publish", "--ring", "/townlet-0-x",
                          "--hwm", "0"], capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2 and "hwm" in res.stderr


def test_one_key_directory_setting(tmp_path):
    (tmp_path / "c.yaml").write_text("keys:\n  dir: elsewhere/keys\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.keys.dir == "elsewhere/keys"
    assert load_config(None).keys.dir == KEYS_DIR
    for old in ("console:\n  keys_dir: k\n", "telemetry:\n  key_dir: k\n"):
        (tmp_path / "old.yaml").write_text(old)
        with pytest.raises(ConfigError, match="unknown field"):
            load_config(tmp_path / "old.yaml")
    issued = subprocess.run(
        [sys.executable, "-m", "townlet", "keys", "init", "--config", "c.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert issued.returncode == 0, issued.stderr
    assert (tmp_path / "elsewhere" / "keys" / "server.key_secret").is_file()


def _run(tmp_path, config: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "cfg.yaml").write_text(config)
    return subprocess.run([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                           "--ticks", "5", "--json", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=240, check=False)


TOWN = """
world:
  town:
    agents: 30
keys:
  dir: state/k
console:
  endpoint: tcp://127.0.0.1:0
  enabled: {console}
telemetry:
  endpoint: tcp://127.0.0.1:0
"""


def test_run_honours_console_enabled_and_the_key_directory(tmp_path):
    off = _run(tmp_path, TOWN.format(console="false"))
    assert off.returncode == 0, off.stderr
    assert "console:" not in off.stderr and "publisher: tcp://" in off.stderr
    keys = tmp_path / "state" / "k"
    assert (keys / "server.key_secret").is_file(), "the publisher's keys come from keys.dir"
    assert not (tmp_path / ".townlet").exists()
    on = _run(tmp_path, TOWN.format(console="true"), "--no-publish")
    assert on.returncode == 0, on.stderr
    assert "console: tcp://127.0.0.1:" in on.stderr
    assert "--client-key state/k/local-operator.key_secret" in on.stderr
    assert json.loads(on.stdout)["ticks"] == 5
    flag = _run(tmp_path, TOWN.format(console="false"), "--console", "--no-publish")
    assert "console: tcp://" in flag.stderr, "the flag overrides the config"
    assert msgspec.convert({}, TelemetryConfig) == TelemetryConfig()


def test_bad_supervision_and_staleness_settings_are_refused(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "telemetry:\n  restart_backoff_seconds: 5\n  restart_backoff_max_seconds: 1\n")
    with pytest.raises(ConfigError, match="restart_backoff_max_seconds"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("telemetry:\n  event_log_events: 10\n")
    with pytest.raises(ConfigError, match="telemetry.event_log_events"):
        load_config(tmp_path / "c.yaml")
    from townlet.client import Subscriber

    with pytest.raises(ValueError, match="stale_intervals"):
        Subscriber("tcp://127.0.0.1:1", None, None, insecure_dev=True, stale_intervals=0)
