"""The container recipe, checked without a Docker engine: hadolint and the compose schema
pass, the ports agree everywhere, the dashboard plots only documented metrics, a key
directory that cannot be written is refused with the fix, and so is a /dev/shm too small
for the ring. deploy/check-recipe.sh (run by .ci/run) performs the build steps in a
clean venv and starts the runtime command with the container's environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from townlet.config import load_config
from townlet.frames.shm import SHM_DIR, ShmTooSmall, check_space
from townlet.sim.services import ServiceStartError, bootstrap_keys

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
METRICS = (ROOT / "docs" / "ops" / "metrics.md").read_text()


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_dockerfile_passes_hadolint():
    proc = subprocess.run([str(BIN / "hadolint"), "Dockerfile"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_file_matches_the_compose_spec():
    proc = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema",
                           "vendor.compose-spec", "compose.yaml"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ports_agree_between_image_config_compose_and_prometheus():
    cfg = load_config(ROOT / "configs" / "container.yaml")
    docker = (ROOT / "Dockerfile").read_text()
    exposed = {int(p) for p in re.search(r"^EXPOSE (.+)$", docker, re.MULTILINE).group(1).split()}
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    recorder = compose["services"]["recorder"]["command"]
    rec_port = int(recorder[recorder.index("--http-port") + 1])
    served = {_port(cfg.console.endpoint), _port(cfg.telemetry.endpoint),
              cfg.telemetry.metrics_port, cfg.ops.http_port, rec_port, cfg.console.metrics_port}
    assert exposed == served
    for host in (cfg.telemetry.metrics_host, cfg.ops.http_host, cfg.console.metrics_host):
        assert host == "0.0.0.0"
    assert "0.0.0.0" in cfg.console.endpoint and "0.0.0.0" in cfg.telemetry.endpoint
    assert f"127.0.0.1:{cfg.ops.http_port}/livez" in docker, "HEALTHCHECK probes the sim"
    assert "RUN bash deploy/build.sh" in docker, "the image runs the checked build steps"
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]}
    assert targets == {f"sim:{cfg.ops.http_port}", f"sim:{cfg.telemetry.metrics_port}",
                       f"sim:{cfg.console.metrics_port}", f"recorder:{rec_port}"}
    sim = compose["services"]["sim"]
    assert "keys:/keys:ro" in sim["volumes"] and sim["shm_size"]
    assert all(s.endswith(":ro") for s in compose["services"]["recorder"]["volumes"]
               if s.startswith("keys:")), "keys are mounted read-only"


def test_the_grafana_dashboard_plots_documented_metrics_only():
    dash = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "townlet.json").read_text())
    names = {m for p in dash["panels"] for t in p["targets"]
             for m in re.findall(r"\b(townlet_[a-z_]+?)(?:_total|_bucket)?\b", t["expr"])}
    documented = set(re.findall(r"^\| `(townlet_[a-z_]+)`", METRICS, re.MULTILINE))
    assert names and names <= documented, names - documented


def _immutable(path: Path, on: bool) -> None:
    subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True)


def test_a_read_only_key_directory_is_refused_with_the_fix(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    _immutable(keys, True)  # like a read-only mount: nobody, root included, may write
    try:
        with pytest.raises(ServiceStartError) as err:
            bootstrap_keys(str(keys))
    finally:
        _immutable(keys, False)
    text = str(err.value)
    assert "read-only" in text and "townlet keys init" in text and str(keys) in text
    assert os.listdir(keys) == []


def test_too_little_shared_memory_is_refused_with_the_fix():
    st = os.statvfs(SHM_DIR)
    with pytest.raises(ShmTooSmall) as err:
        check_space(st.f_bavail * st.f_frsize + (64 << 20))
    assert "--shm-size=" in str(err.value) and "telemetry.ring_slots" in str(err.value)
    check_space(1)
