"""Run the dashboard headless against a publisher and report what it cost (a child of
bench_dashboard.py: the dashboard gets its own process, so its CPU time is its own).

``python benchmarks/dashboard_probe.py ENDPOINT KEY_FILE SECONDS`` follows the first
living agent, waits for a live stream, measures for SECONDS and prints one JSON line:
CPU seconds per wall second, frames applied and drawn, frame-to-screen latencies, and
how many ticks the drawn frame trailed the newest applied one.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from townlet.ui.app import DashboardApp
from townlet.ui.login import Login


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def probe(endpoint: str, key: Path, seconds: float) -> dict:
    login = Login("tcp://127.0.0.1:1", endpoint, key, key, "bench", "viewer")
    app = DashboardApp(login, insecure_dev=True, console=False)
    async with app.run_test(size=(200, 60)) as pilot:
        while app.frame is None:
            await pilot.pause(0.05)
        app.follow = int(np.flatnonzero(app.frame.cols["agent_alive"])[0])
        await pilot.pause(2.0)  # warm up
        assert app.feed is not None
        st0, drawn0, cpu0, t0 = app.feed.status(), app.drawn, _cpu(), time.monotonic()
        behind = []
        while time.monotonic() - t0 < seconds:
            await pilot.pause(0.25)
            if app.frame is not None:
                behind.append(app.feed.status().tick - app.frame.tick)
        wall, cpu, st = time.monotonic() - t0, _cpu() - cpu0, app.feed.status()
        lat = np.array(app.frame_to_screen) * 1e3
        return {"cpu_share": cpu / wall, "applied": st.applied - st0.applied,
                "drawn": app.drawn - drawn0, "seconds": wall,
                "latency_ms_p50": float(np.median(lat)), "latency_ms_p95":
                float(np.percentile(lat, 95)), "max_ticks_behind": int(max(behind)),
                "late_ticks_behind": int(max(behind[len(behind) // 2:])),
                "gaps": st.gaps - st0.gaps}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])))),
          flush=True)
