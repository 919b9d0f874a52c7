"""Text panels: the header line, the town figures and publisher/simulation health.

Each panel is a ``Static`` that renders what it is given (a digest, a feed status,
console answers); none of them reads the network or keeps received data alive.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from townlet.ui.feed import FeedStatus
from townlet.ui.frame import Digest
from townlet.ui.login import expiry_text
from townlet.ui.vocab import Names

__all__ = ["HeaderBar", "HealthPanel", "TownPanel", "bars"]

_BARS = " ▁▂▃▄▅▆▇█"
_STATE_STYLE = {"live": "bold green", "stale": "bold red", "ended": "bold yellow",
                "refused": "bold red", "failed": "bold red", "connecting": "yellow"}


def bars(values: list[int] | np.ndarray) -> str:
    """A one-line bar chart of non-negative counts."""
    v = np.asarray(values, dtype=np.float64)
    top = v.max(initial=0.0)
    if top <= 0:
        return _BARS[0] * v.size
    return "".join(_BARS[round(x / top * (len(_BARS) - 1))] for x in v.tolist())


class HeaderBar(Static):
    """Tick, clock, rate, population, config, policy, connection, lag, identity, expiry."""

    def show(self, d: Digest | None, st: FeedStatus, tps: float, who: dict[str, Any],
             policy: str) -> None:
        t = Text()
        if d is None:
            t.append("waiting for the first keyframe…  ", style="italic")
        else:
            t.append(f"tick {d.tick:,}", style="bold")
            t.append(f"  day {d.day} {d.clock}  {tps:,.1f} ticks/s  "
                     f"pop {d.population:,}/{d.capacity:,}  config {d.config_id[:12]}")
        shown = (d.policy if d is not None and d.policy else policy)  # frames first
        if shown:
            t.append(f"  policy {shown}")
        t.append("\n")
        t.append(f"{st.state}", style=_STATE_STYLE.get(st.state, ""))
        t.append(f" (silent {st.silent_s:.1f}s)" if st.state != "live" else "")
        t.append(f"  lag {st.lag_ticks} ticks {st.latency_ms:.0f} ms")
        ident = who.get("identity") or "?"
        t.append(f"  {ident} as {who.get('role') or '?'}", style="bold cyan")
        left = expiry_text(who.get("expires_at"))
        t.append(f"  key expires in {left}",
                 style="bold red" if left == "expired" or ("h" not in left and "d" not in left)
                 else "")
        self.update(t)


class TownPanel(Static):
    """Needs distribution, economy, jobs and lateness, queues, perturbations, events."""

    def show(self, d: Digest, events: np.ndarray, by_hour: np.ndarray, names: Names) -> None:
        g = Table.grid(padding=(0, 2))
        g.add_column(style="bold")
        g.add_column()
        for name, hist in d.needs_hist.items():
            g.add_row(f"{name}", f"{bars(hist)}  mean {d.needs_mean[name]:.2f}")
        g.add_row("prices", "  ".join(f"{k} {v:.3f}" for k, v in d.prices.items()))
        g.add_row("money/capita", f"{d.money_per_capita:,.3f}")
        g.add_row("stock", "  ".join(f"{k} {v:,}" for k, v in d.stock.items()) or "-")
        g.add_row("shifts", "  ".join(f"{k} {v:,}" for k, v in d.shifts.items()) or "-")
        g.add_row("jobs (late)", "  ".join(f"#{j} {n:,} ({late:,})"
                                           for j, (n, late) in d.jobs.items()) or "-")
        g.add_row("worked/absent", f"{d.stats.get('shifts_worked', 0):,} / "
                                   f"{d.stats.get('absences', 0):,}")
        g.add_row("queues", f"{d.waiting:,} waiting; " + ("  ".join(
            f"{t}#{o}@{x},{y}:{n}" for o, t, x, y, n in d.queues) or "none"))
        g.add_row("perturbations", "  ".join(
            f"{k}#{i} target {tg} ×{m:g} until {end:,}" for i, k, end, tg, m in d.perturbations)
            or "none")
        g.add_row("districts down", str(d.districts_down))
        g.add_row("deaths/faints", f"{d.stats.get('deaths', 0):,} / {d.stats.get('faints', 0):,}")
        g.add_row("events by hour", f"{bars(by_hour)}  (00-23, since start)")
        recent = events[-8:][::-1]
        for row in recent.tolist():
            code, tick, agent, other, obj, value = row
            g.add_row(f"t{tick}", f"{names.of('code', code)} agent {agent}"
                      + (f" other {other}" if other >= 0 else "")
                      + (f" obj {obj}" if obj >= 0 else "") + f" {value:g}")
        self.update(g)


class HealthPanel(Static):
    """Publisher health (drops, lag, subscribers, handshakes), this client's counters and
    the console server's own health."""

    def show(self, st: FeedStatus, console_health: dict[str, Any] | None,
             frame_to_screen: Iterable[float] = ()) -> None:
        g = Table.grid(padding=(0, 2))
        g.add_column(style="bold")
        g.add_column()
        h = st.health
        g.add_row("stream", f"{st.state}, silent {st.silent_s:.1f}s, "
                            f"reconnects {st.reconnects}")
        if h is not None:
            g.add_row("simulation", "running" if h.writer_alive else "NOT RUNNING")
            g.add_row("publisher", f"lag {max(0, h.head_tick - h.last_tick)} ticks, "
                                   f"{h.subscribers} subscribers, restarts {h.restarts}")
            g.add_row("sent", f"{h.keyframes_sent:,} keyframes, {h.deltas_sent:,} deltas, "
                              f"{h.bytes_sent / 1e6:,.1f} MB")
            g.add_row("drops", f"{h.dropped_reported:,} reported, torn reads {h.torn_reads:,}, "
                               f"handshake failures {h.handshake_failures:,}")
        g.add_row("this client", f"{st.applied:,} frames applied, {st.shown:,} drawn, "
                                 f"gaps {st.gaps}, resyncs {st.resyncs}, bad {st.bad_messages}, "
                                 f"events lost {st.events_lost}")
        lat = np.fromiter(frame_to_screen, np.float64)
        if lat.size:
            g.add_row("frame→screen", f"median {np.median(lat) * 1e3:.0f} ms, "
                                      f"max {lat.max() * 1e3:.0f} ms (last {lat.size} frames)")
        if console_health:
            for k, v in console_health.items():
                g.add_row(f"console {k}", _short(v))
        self.update(g)


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_short(x)}" for k, x in v.items()) or "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
