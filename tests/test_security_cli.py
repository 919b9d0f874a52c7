"""``townlet keys`` end to end on real files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from townlet.security import load_keypair
from townlet.security.cli import keys_command


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(keys_command, list(args))
    return r.exit_code, r.output


def test_init_issue_list_revoke(tmp_path: Path) -> None:
    d = str(tmp_path / "k")
    code, out = run("init", "--key-dir", d)
    assert code == 0 and "server.key" in out
    code, out = run("init", "--key-dir", d)
    assert code == 1 and "--force" in out
    code, out = run("issue", "--key-dir", d, "--name", "ann", "--role", "admin", "--ttl", "1h",
                    "--json")
    assert code == 0, out
    issued = json.loads(out)
    assert issued["role"] == "admin" and "secret_key" not in issued
    kf = Path(issued["key_file"])
    assert kf.stat().st_mode & 0o777 == 0o600
    kp = load_keypair(kf)
    assert kp.public.decode() == issued["public_key"] and kp.secret.decode() not in out
    code, out = run("issue", "--key-dir", d, "--name", "bo", "--role", "viewer")
    assert code == 0 and "issued" in out
    code, out = run("list", "--key-dir", d, "--json")
    rows = json.loads(out)
    assert [(r["name"], r["status"]) for r in rows] == [("ann", "valid"), ("bo", "valid")]
    code, out = run("revoke", "--key-dir", d, "ann")
    assert code == 0 and issued["key_id"] in out
    code, out = run("list", "--key-dir", d, "--json")
    assert [r["status"] for r in json.loads(out)] == ["revoked", "valid"]
    code, out = run("list", "--key-dir", d)
    assert code == 0 and "revoked" in out and "bo" in out


def test_errors_are_clear(tmp_path: Path) -> None:
    d = str(tmp_path / "k")
    code, out = run("list", "--key-dir", d)
    assert code == 1 and "keys init" in out
    run("init", "--key-dir", d)
    code, out = run("issue", "--key-dir", d, "--name", "x", "--role", "admin", "--ttl", "3d")
    assert code == 1 and "exceeds the maximum" in out
    code, out = run("issue", "--key-dir", d, "--name", "x", "--role", "viewer", "--ttl", "soon")
    assert code == 1 and "bad duration" in out
    code, out = run("issue", "--key-dir", d, "--name", "x", "--role", "god")
    assert code == 2 and "god" in out
    code, out = run("revoke", "--key-dir", d, "nobody")
    assert code == 1 and "no unrevoked key named 'nobody'" in out


def test_env_var_selects_directory(tmp_path: Path) -> None:
    d = tmp_path / "envkeys"
    r = CliRunner(env={"TOWNLET_KEY_DIR": str(d)}).invoke(keys_command, ["init"])
    assert r.exit_code == 0 and (d / "server.key_secret").exists()
