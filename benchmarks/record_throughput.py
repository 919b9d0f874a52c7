"""Recording throughput end to end: a town of N agents with its publisher, and
`townlet record` writing the stream. Reports messages/s and MB/s the recorder wrote.

    python benchmarks/record_throughput.py --agents 100000 --messages 300

Runs in a temporary directory (keys, recording); needs the ops extra (pyarrow).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--format", choices=("arrow", "parquet"), default="arrow")
    args = ap.parse_args()
    from townlet.security import issue_key

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "cfg.yaml").write_text(
            f'telemetry: {{endpoint: "tcp://127.0.0.1:{_free_port()}"}}\n'
            'console: {enabled: false}\n')
        sim = subprocess.Popen([sys.executable, "-m", "townlet", "run", "--config", "cfg.yaml",
                                "--agents", str(args.agents), "--ticks", "100000000"],
                               cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
        try:
            endpoint = None
            for line in sim.stdout:
                m = re.search(r"publisher: (tcp://\S+)", line)
                if m:
                    endpoint = m.group(1)
                    break
            if endpoint is None:
                raise SystemExit("the simulation did not start its publisher")
            keys = work / ".townlet" / "keys"
            _, key = issue_key(keys, "bench-recorder", "viewer", timedelta(hours=1))
            t0 = time.perf_counter()
            rec = subprocess.run(
                [sys.executable, "-m", "townlet", "record", "--endpoint", endpoint,
                 "--server-key", str(keys / "server.key"), "--client-key", str(key),
                 "--out", str(work / "rec"), "--format", args.format,
                 "--messages", str(args.messages)], capture_output=True, text=True, check=True)
            seconds = time.perf_counter() - t0
        finally:
            sim.terminate()
            sim.wait(120)
        s = json.loads(rec.stdout)
        disk = sum(p.stat().st_size for p in (work / "rec").iterdir())
        print(json.dumps({"agents": args.agents, "format": args.format,
                          "messages": s["messages"], "seconds": round(seconds, 2),
                          "messages_per_s": round(s["messages"] / seconds, 1),
                          "payload_mb_per_s": round(s["bytes"] / seconds / 1e6, 2),
                          "mean_message_kb": round(s["bytes"] / max(1, s["messages"]) / 1e3, 1),
                          "disk_mb": round(disk / 1e6, 2)}))


if __name__ == "__main__":
    main()
