"""The stability and promotion panel: which policy drives the town, the promotion
state, the stability monitor's alerts over rolling windows and the promotion history.

The policy identity comes from the frames (schema 2.1+ policy columns); the rest is
the console's ``promotion_status`` (polled while the tab is shown), the same answer
``townlet console promotion_status`` prints. :class:`AlertWindows` keeps the polled
alert counters so each alert gets a sparkline of the ticks it was raised on per poll.
Promotion and rollback are the palette's ``promote_policy`` / ``rollback_policy``
(admin only, confirmed; the server authorises them).
"""

from __future__ import annotations

from collections import deque
from itertools import pairwise
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from townlet.ui.panels import bars

__all__ = ["PROMOTION_COMMANDS", "AlertWindows", "PolicyPanel", "promote_prefill"]

PROMOTION_COMMANDS = ("promote_policy", "rollback_policy")
"""The console's promotion actions (admin; the palette confirms them)."""
WINDOWS = 30
"""Polls kept per alert sparkline (at the console poll period, about a minute)."""
HISTORY_ROWS = 6
_STATE_STYLE = {"monitoring": "yellow", "ready": "bold green", "promoted": "bold cyan"}


class AlertWindows:
    """Alert ticks per poll interval, per alert, over the last ``WINDOWS`` polls."""

    def __init__(self) -> None:
        self._seen: deque[tuple[int, dict[str, int]]] = deque(maxlen=WINDOWS + 1)

    def add(self, report: dict[str, Any]) -> None:
        tick, counts = int(report["tick"]), dict(report["alert_ticks"])
        if self._seen and tick < self._seen[-1][0]:
            self._seen.clear()  # a new monitor (the run restarted): start over
        if not self._seen or tick != self._seen[-1][0]:
            self._seen.append((tick, counts))

    def series(self) -> tuple[int, dict[str, list[int]]]:
        """(ticks covered, alert -> raised ticks in each interval, oldest first)."""
        seen = list(self._seen)
        if len(seen) < 2:
            return 0, {}
        names = seen[-1][1].keys()
        out = {a: [max(0, b[1].get(a, 0) - p[1].get(a, 0)) for p, b in pairwise(seen)]
               for a in names}
        return seen[-1][0] - seen[0][0], out


def _slot(slot: dict[str, Any] | None) -> str:
    if slot is None:
        return "scripted"
    return f"{slot['name']} {slot['policy_hash'][:12]} ({slot['variant']})"


def promote_prefill(status: dict[str, Any] | None) -> str:
    """Arguments that pin a promotion to the shadow on screen (the server refuses
    another candidate), or "" when no shadow is known."""
    shadow = (status or {}).get("promotion", {}).get("shadow")
    return f"policy_hash={shadow['policy_hash']}" if shadow else ""


class PolicyPanel(Static):
    """Policy identity, promotion state and slots, stability alerts, history."""

    def show(self, frame_policy: str, learned: int, population: int,
             status: dict[str, Any] | None, error: str | None, windows: AlertWindows,
             may_act: bool) -> None:
        g = Table.grid(padding=(0, 2))
        g.add_column(style="bold")
        g.add_column()
        g.add_row("frames say", (f"{frame_policy}; drives {learned:,} of {population:,} agents"
                                 if frame_policy else "scripted policy"))
        if error is not None:
            g.add_row("promotion", Text(error, style="yellow"))
        elif status is None:
            g.add_row("promotion", Text("asking the console…", style="italic"))
        else:
            self._promotion(g, status["promotion"])
            if status.get("stability") is not None:
                self._stability(g, status["stability"], windows)
            self._history(g, status["promotion"]["history"])
        g.add_row("actions", "ctrl+p: promote_policy (pins the shadow above), rollback_policy;"
                  " both ask for confirmation" if may_act
                  else "promote and rollback need an admin key")
        self.update(g)

    @staticmethod
    def _promotion(g: Table, p: dict[str, Any]) -> None:
        g.add_row("state", Text(p["state"], style=_STATE_STYLE.get(p["state"], "")))
        g.add_row("release", _slot(p["release"]))
        if p["shadow"] is None:
            g.add_row("shadow", "none (submit one with `townlet eval CKPT --submit`)")
        else:
            ready = (Text("ready", style="bold green") if p["candidate_ready"]
                     else Text("not ready", style="yellow"))
            g.add_row("shadow", Text.assemble(_slot(p["shadow"]), "  ", ready,
                                              f"  streak {p['pass_streak']} of "
                                              f"{p['required_passes']}"))
            v = p.get("verdict")
            g.add_row("verdict", "none" if v is None else Text.assemble(
                f"{v['suite']} v{v['suite_version']} at {v['evaluated_at']}: "
                f"{v['clean_windows']} clean windows; ",
                Text(f"alerts {', '.join(v['alerts']) or 'none'}; regressions "
                     f"{', '.join(v['regressions']) or 'none'}",
                     style="red" if v["alerts"] or v["regressions"] else "")))
        g.add_row("rollback to", _slot(p["previous"][-1]) if p["previous"] else "nothing earlier")

    @staticmethod
    def _stability(g: Table, s: dict[str, Any], windows: AlertWindows) -> None:
        now = Text(", ".join(s["alerts"]) or "none", style="bold red" if s["alerts"] else "green")
        g.add_row(f"alerts @ {s['tick']:,}", now)
        last = s["last_result"] or "-"
        g.add_row("windows", Text.assemble(
            f"{s['windows_passed']} passed, {s['windows_failed']} failed, streak "
            f"{s['pass_streak']}, last ",
            Text(last, style="red" if last == "fail" else "green" if last == "pass" else "")))
        g.add_row("monitor", f"starvation {s['starvation_incidents']}  option switches "
                             f"{s['option_switch_rate']:.3f}/agent·tick  reward variance "
                             f"{s['reward_variance']:.3g}")
        if s["failed_alerts"]:
            g.add_row("failed on", Text(", ".join(s["failed_alerts"]), style="red"))
        span, series = windows.series()
        for name, total in s["alert_ticks"].items():
            line = f"{bars(series[name])} " if name in series else ""
            g.add_row(f"  {name}", Text(f"{line}{total:,} ticks",
                                        style="red" if name in s["alerts"] else ""))
        if span:
            g.add_row("", Text(f"(sparklines: raised ticks per poll over the last {span:,} ticks)",
                               style="italic"))

    @staticmethod
    def _history(g: Table, history: list[dict[str, Any]]) -> None:
        for e in history[-HISTORY_ROWS:][::-1]:  # newest first
            subject = e["candidate"] if e["kind"] == "candidate" else e["release"]
            g.add_row(e["at"], f"{e['kind']} {_slot(subject)} by {e['actor']}"
                      + (f": {e['reason']}" if e["reason"] else ""))
        if not history:
            g.add_row("history", "-")
