"""One renderer per stream: JSON lines on a pipe, readable lines on a terminal, for
structlog and standard-library records alike; tests print no log lines at all."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

SCRIPT = """
import logging, structlog
from townlet.ops.logging import configure_logging
configure_logging()
structlog.get_logger("townlet.console.audit").info("console_request", identity="ann")
logging.getLogger("townlet.snapshots").warning("autosave %s failed", "day3")
try:
    1 / 0
except ZeroDivisionError:
    structlog.get_logger("townlet.console").exception("console_command_failed")
"""


def test_a_pipe_gets_json_lines_only_with_tracebacks(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=True)
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [r["event"] for r in records] == ["console_request", "autosave day3 failed",
                                             "console_command_failed"]
    assert [r["level"] for r in records] == ["info", "warning", "error"]
    assert "ZeroDivisionError" in records[2]["exception"]
    assert proc.stdout == ""


def test_a_terminal_gets_readable_lines_only(tmp_path):
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=tmp_path, stdout=follower,
                            stderr=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    text = out.decode()
    assert "console_request" in text and "autosave day3 failed" in text
    assert "ZeroDivisionError" in text
    assert not [line for line in text.splitlines() if line.lstrip().startswith("{")]


QUIET_TEST = """
import threading
import structlog
from townlet.ops.logging import configure_logging

configure_logging(quiet=True)
log = structlog.get_logger("townlet.console.audit")


def test_logs_from_threads():
    t = threading.Thread(target=lambda: [log.warning("console_request", n=i) for i in range(50)])
    t.start()
    t.join()
    log.warning("console_request", n="main")
"""


def test_quiet_logging_keeps_pytest_output_clean(tmp_path):
    (tmp_path / "test_quiet.py").write_text(QUIET_TEST)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_quiet.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout
    assert "console_request" not in proc.stdout + proc.stderr
