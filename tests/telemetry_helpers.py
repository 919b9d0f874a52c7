"""Helpers for the telemetry tests: real writer/publisher processes, keys and metrics."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WRITER = str(ROOT / "tests" / "telemetry_writer.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_json_line(proc: subprocess.Popen, timeout: float = 30.0) -> dict:
    """Next JSON line from a child's stdout, or AssertionError after ``timeout``."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0, f"no line from pid {proc.pid} within {timeout}s (got {buf!r})"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            ch = os.read(fd, 1)
            assert ch, f"pid {proc.pid} closed stdout (exit {proc.poll()}) after {buf!r}"
            buf += ch
    return json.loads(buf)


def start_writer(*args: str, stdin: bool = True) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, WRITER, *args], stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    return proc, read_json_line(proc)


def start_publisher(ring: str, doorbell: str | None, *extra: str,
                    endpoint: str | None = None) -> tuple[subprocess.Popen, dict]:
    endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "townlet", "publish", "--ring", ring, "--endpoint", endpoint,
           *extra]
    if doorbell:
        cmd += ["--doorbell", doorbell]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    return proc, read_json_line(proc)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout)


def finish_writer(proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    """Let a --wait-go writer run to the end; return its final line."""
    return read_json_line(proc, timeout)


def go(proc: subprocess.Popen) -> None:
    proc.stdin.write(b"go\n")
    proc.stdin.flush()


def metrics(port: int) -> dict[str, float]:
    """Scrape a Prometheus exporter into {sample name with labels: value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def make_keys(tmp: Path) -> dict[str, Path]:
    """A key dir with a server keypair and viewer/unknown/expired/revoked client keys."""
    import zmq

    from townlet.security import init_key_dir, issue_key, revoke_keys
    from townlet.security.keys import Keypair, write_keypair_file
    from townlet.security.registry import utcnow

    kd = tmp / "keys"
    init_key_dir(kd)
    _, viewer = issue_key(kd, "viewer1", "viewer", timedelta(hours=1))
    _, admin = issue_key(kd, "admin1", "admin", timedelta(hours=1))
    _, expired = issue_key(kd, "old", "viewer", timedelta(minutes=1),
                           now=utcnow() - timedelta(hours=2))
    _, revoked = issue_key(kd, "gone", "viewer", timedelta(hours=1))
    revoke_keys(kd, "gone")
    pub, sec = zmq.curve_keypair()
    unknown = write_keypair_file(tmp / "unknown.key_secret", Keypair(pub, sec), "unregistered")
    return {"dir": kd, "server": kd / "server.key", "viewer": viewer, "admin": admin,
            "expired": expired, "revoked": revoked, "unknown": unknown}


def load_hashes(path: Path, what: str = "hash") -> dict[int, str]:
    """Per-tick records of a writer's --hashes file: the frame hash, or its event ``codes``."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                out[rec["tick"]] = rec[what]
    return out


def segment_pid(name: str) -> int | None:
    """The creating process's pid from a segment name ``/townlet-<pid>-<hex>``."""
    parts = name.lstrip("/").split("-")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


@pytest.fixture(autouse=True)
def no_shm_leak(monkeypatch):
    """Every telemetry test must leave /dev/shm as it found it: no segment created by this
    process or a process it started may remain (other test runs on the host are ignored)."""
    from townlet.frames.shm import list_segments

    ours = {os.getpid()}
    real_init = subprocess.Popen.__init__

    def tracking_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        ours.add(self.pid)

    monkeypatch.setattr(subprocess.Popen, "__init__", tracking_init)
    before = set(list_segments())
    yield

    def leaked() -> set[str]:
        return {s for s in set(list_segments()) - before if segment_pid(s) in ours}

    deadline = time.monotonic() + 5  # children unlink as they exit
    while (left := leaked()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"shared-memory segments left behind: {sorted(left)}"


def townlet(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python -m townlet ARGS`` and capture its output (never raises on failure)."""
    return subprocess.run([sys.executable, "-m", "townlet", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def wait_until(cond, what: str, timeout: float = 60.0, every: float = 0.05):
    """Poll ``cond()`` until it returns a truthy value (returned), or fail naming ``what``.
    The bound is generous (a loaded 2-core box): the wait ends as soon as ``cond`` holds."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(every)
    return value


def raw_client(endpoint: str, keys: dict[str, Path] | None, who: str = "viewer"):
    """A bare XSUB socket (CURVE with key ``who`` unless ``keys`` is None): a client that
    sends whatever a test wants upstream. Returns (context, socket); close both.

    libzmq's XSUB forwards an unsubscribe only for a topic it holds, but with
    ONLY_FIRST_SUBSCRIBE it passes later parts of a message unchecked, which the
    publisher still reads as (un)subscriptions: ``send_raw`` uses that, as a
    hand-written ZMTP client could."""
    import zmq

    from townlet.security import load_keypair, load_public_key

    ctx = zmq.Context()
    sock = ctx.socket(zmq.XSUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.ONLY_FIRST_SUBSCRIBE, 1)
    if keys is not None:
        kp = load_keypair(keys[who])
        sock.curve_serverkey = load_public_key(keys["server"])
        sock.curve_publickey, sock.curve_secretkey = kp.public, kp.secret
    sock.connect(endpoint)
    return ctx, sock


def send_raw(sock, *messages: bytes) -> None:
    """Send ``messages`` upstream unfiltered (see ``raw_client``)."""
    sock.send_multipart([b"", *messages])


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (/proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")
