"""Publisher lifecycle with real processes: stale doorbells, supervision, event delivery."""

from __future__ import annotations

import signal

import pytest
from structlog.testing import capture_logs
from telemetry_helpers import (
    make_keys,
    no_shm_leak,  # noqa: F401 - autouse fixture
    start_publisher,
    start_writer,
    stop,
)

from townlet.frames import shm


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory.mktemp("life"))


def test_killed_run_leaves_nothing_behind_after_the_next_start(keys):
    """kill -9 of writer and publisher leaves a segment and a .bell file; the next cleanup
    removes both and logs each removal."""
    writer, info = start_writer("--agents", "50", "--ticks", "100000", "--rate", "50")
    pub, _ = start_publisher(info["ring"], info["doorbell"], "--key-dir", str(keys["dir"]),
                             "--metrics-port", "0")
    bell = shm.doorbell_path(info["ring"])
    assert info["doorbell"] == f"ipc://{bell}" and bell.exists()
    stop(pub, signal.SIGKILL)
    stop(writer, signal.SIGKILL)
    assert bell.exists() and info["ring"] in shm.list_segments()
    with capture_logs() as logs:
        removed = shm.cleanup_stale()
    assert not bell.exists() and info["ring"] not in shm.list_segments()
    assert {info["ring"], str(bell)} <= set(removed)
    logged = {(e["kind"], e.get("name") or e.get("path")) for e in logs
              if e["event"] == "stale_telemetry_removed"}
    assert {("segment", info["ring"]), ("doorbell", str(bell))} <= logged
