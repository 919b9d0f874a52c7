"""The dashboard's console connection: one :class:`ConsoleClient` behind a lock.

Calls block, so the app runs them in thread workers; the lock keeps one request on
the socket at a time. Results are plain data (never live objects), and errors come
back as the client's typed exceptions for the UI to show inline.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from townlet.client.console import ConsoleClient
from townlet.client.errors import ConsoleError
from townlet.ui.login import Login

__all__ = ["CommandInfo", "ConsoleLink"]


class CommandInfo:
    """One console command the caller may run (from the server's ``help``)."""

    __slots__ = ("mutates", "name", "role", "summary", "usage")

    def __init__(self, row: dict[str, Any]) -> None:
        self.name: str = row["name"]
        self.role: str = row["role"]
        self.usage: str = row["usage"]
        self.summary: str = row["summary"]
        self.mutates: bool = bool(row["mutates"])


class ConsoleLink:
    """Thread-safe calls to the console server of ``login``."""

    def __init__(self, login: Login, timeout: float = 3.0) -> None:
        assert login.client_key is not None  # preflight refused a login without a key
        self._client = ConsoleClient(login.console_endpoint, login.server_key,
                                     login.client_key, timeout=timeout, retries=0)
        self._lock = threading.Lock()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.call(name, *args, **kwargs)

    def commands(self) -> list[CommandInfo]:
        """The commands this key's role may run, as the server lists them."""
        rows = self.call("help")["commands"]
        return [CommandInfo(r) for r in rows if r["allowed"]]

    def related(self, keys: list[tuple[str, int | None]],
                ) -> tuple[dict[tuple[str, int | None], np.ndarray], str]:
        """``related`` for each ``(kind, with_agent)``: read-only bool arrays over the agent
        slots and a note (the oldest tick they describe, or the server's refusal)."""
        out: dict[tuple[str, int | None], np.ndarray] = {}
        ticks: list[int] = []
        for kind, other in keys:
            try:
                r = self.call("related", kind, with_agent=other)
            except ConsoleError as exc:
                at = "" if other is None else f"@{other}"
                return {}, f"rel={kind}{at}: {exc}"
            bits = np.unpackbits(np.frombuffer(r["mask"], np.uint8), count=r["slots"])
            mask = bits.astype(bool)
            mask.flags.writeable = False
            out[(kind, other)] = mask
            ticks.append(r["tick"])
        return out, f"ties as of tick {min(ticks):,}" if ticks else ""

    def close(self) -> None:
        with self._lock:
            self._client.close()
