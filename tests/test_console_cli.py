"""``townlet console`` as a real process against a real server: exec, --json, exit codes, REPL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _console import Town

from townlet.security import issue_key, parse_ttl, revoke_keys


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    t = Town(tmp_path_factory.mktemp("clitown"))
    yield t
    t.close()


def cli(town: Town, role: str, *args: str, key: Path | None = None, stdin: str | None = None,
        endpoint: str | None = None, home: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, TOWNLET_CONSOLE_ENDPOINT=endpoint or town.endpoint,
               TOWNLET_SERVER_KEY=str(town.kdir / "server.key"),
               TOWNLET_CONSOLE_KEY=str(key or town.keys[role]))
    if home is not None:
        env["TOWNLET_CONSOLE_HISTORY"] = str(home / "history")
    return subprocess.run([sys.executable, "-m", "townlet", "console", "--timeout", "3", *args],
                          input=stdin, capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def test_exec_prints_result(town: Town) -> None:
    r = cli(town, "viewer", "exec", "whoami")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["identity"] == "viewer1"


def test_exec_json_envelope_and_kwargs(town: Town) -> None:
    r = cli(town, "viewer", "exec", "agents", "limit=2", "--json")
    assert r.returncode == 0, r.stderr
    resp = json.loads(r.stdout)
    assert resp["ok"] and len(resp["result"]["rows"]) == 2 and resp["tick"] >= 0


def test_exec_failure_exit_codes_and_messages(town: Town) -> None:
    r = cli(town, "viewer", "exec", "kill", "3")
    assert r.returncode == 1 and "forbidden for your role" in r.stderr
    r = cli(town, "viewer", "exec", "agent", "99999", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "E_NOT_FOUND"
    r = cli(town, "viewer", "exec", "status", endpoint="tcp://127.0.0.1:1")
    assert r.returncode == 3 and "server unreachable" in r.stderr


def test_exec_refused_handshake(town: Town) -> None:
    _, key = issue_key(town.kdir, "gone", "viewer", parse_ttl("1h"))
    revoke_keys(town.kdir, "gone")
    r = cli(town, "viewer", "exec", "whoami", key=key)
    assert r.returncode == 4 and "handshake refused (key unknown/expired/revoked)" in r.stderr


def test_missing_key_file_is_a_clear_error(town: Town, tmp_path: Path) -> None:
    r = cli(town, "viewer", "exec", "whoami", key=tmp_path / "nope.key_secret")
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_repl_runs_lines_and_keeps_history(town: Town, tmp_path: Path) -> None:
    r = cli(town, "operator", stdin="whoami\nagent 1\nnot_a_command\n# comment\nquit\n",
            home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert '"identity": "operator1"' in r.stdout and '"agent": 1' in r.stdout
    assert "E_UNSUPPORTED" in r.stderr
    hist = (tmp_path / "history").read_text().splitlines()
    assert hist == ["whoami", "agent 1", "not_a_command", "# comment", "quit"]
    assert (tmp_path / "history").stat().st_mode & 0o777 == 0o600
