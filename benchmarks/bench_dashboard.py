"""asv: the dashboard following a 100k-agent town at 30 ticks/s.

The town is bench_publish's synthetic 100k-agent state driven through the real ring and
publisher; the dashboard runs headless in its own process (dashboard_probe.py), follows
one agent and reports:

- frame-to-screen latency (publisher send to the end of the dashboard's draw), p50/p95;
- its CPU share (CPU seconds per wall second; 1.0 = one core);
- frames drawn as a share of frames applied (the rest were skipped to stay current);
- how many ticks the drawn frame trailed the newest applied frame in the second half of
  the run (flat and small = it never falls behind).

``python benchmarks/bench_dashboard.py`` prints every figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from townlet.security import init_key_dir, issue_key, parse_ttl

try:
    from benchmarks.bench_publish import _port, _Sim
except ImportError:  # run as a script: python benchmarks/bench_dashboard.py
    from bench_publish import _port, _Sim

PROBE = str(Path(__file__).with_name("dashboard_probe.py"))
AGENTS, RATE, SECONDS = 100_000, 30.0, 15.0


def follow_run(agents: int = AGENTS, rate: float = RATE, seconds: float = SECONDS) -> dict:
    """Drive the town while the probe measures; the probe's JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        init_key_dir(tmp)
        _, key = issue_key(tmp, "bench", "viewer", parse_ttl("1h"))
        sim = _Sim(agents, _port(), synthetic=True)
        try:
            probe = subprocess.Popen([sys.executable, PROBE, sim.endpoint, str(key),
                                      str(seconds)], stdout=subprocess.PIPE, text=True)
            while probe.poll() is None:
                sim.run(int(rate), rate)  # about a second at a time until the probe is done
            out = probe.stdout.read() if probe.stdout else ""
        finally:
            sim.close()
    if probe.returncode != 0:
        raise RuntimeError(f"dashboard probe failed with status {probe.returncode}")
    return json.loads(out.strip().splitlines()[-1])


class DashboardFollows100k:
    """One 15 s run, several figures (asv setup_cache: the run is shared)."""

    timeout = 900
    number = 1
    repeat = 1

    def setup_cache(self) -> dict:
        return follow_run()

    def track_frame_to_screen_ms_p50(self, r: dict) -> float:
        return r["latency_ms_p50"]

    track_frame_to_screen_ms_p50.unit = "ms"

    def track_frame_to_screen_ms_p95(self, r: dict) -> float:
        return r["latency_ms_p95"]

    track_frame_to_screen_ms_p95.unit = "ms"

    def track_cpu_share_percent(self, r: dict) -> float:
        return 100.0 * r["cpu_share"]

    track_cpu_share_percent.unit = "% of a core"

    def track_drawn_percent_of_applied(self, r: dict) -> float:
        return 100.0 * r["drawn"] / max(1, r["applied"])

    track_drawn_percent_of_applied.unit = "%"

    def track_ticks_behind_second_half(self, r: dict) -> float:
        return float(r["late_ticks_behind"])

    track_ticks_behind_second_half.unit = "ticks"


if __name__ == "__main__":
    r = follow_run()
    print(f"{AGENTS:,} agents at {RATE:g} ticks/s for {r['seconds']:.1f} s: "
          f"frame->screen p50 {r['latency_ms_p50']:.0f} ms, p95 {r['latency_ms_p95']:.0f} ms; "
          f"dashboard CPU {100 * r['cpu_share']:.0f}% of a core; drew {r['drawn']} of "
          f"{r['applied']} frames applied ({r['gaps']} gaps); drawn frame behind the newest "
          f"by at most {r['max_ticks_behind']} ticks ({r['late_ticks_behind']} in the second "
          "half)")
