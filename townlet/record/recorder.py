"""``Recorder``: write a publisher's stream to rotating Arrow IPC or Parquet files.

The recorder is an ordinary subscriber with its own key. Every frame message it
applies (keyframe or delta) is stored as it came off the wire, one row per
message (docs/ops/recording.md), so a recording is exactly the stream and
``townlet replay`` rebuilds every frame from it. Each file starts with a keyframe:
when a file reaches ``rotate_bytes`` the recorder asks for a keyframe and keeps
writing to the old file until it arrives, so no message falls between two files.
After each rotation the oldest recordings are deleted until the directory holds at
most ``max_bytes``. A write that fails (disk full, read-only directory) is logged
and counted; the recorder keeps receiving and starts a new file at the next
keyframe, at most once a second. Nothing it does reaches the simulation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from townlet.client.subscriber import Subscriber, Update
from townlet.record.format import (
    SUFFIXES,
    FileWriter,
    Row,
    recording_files,
)

__all__ = ["RecordStats", "Recorder"]

_log = structlog.get_logger("townlet.record")
_P = "townlet_record_"
RETRY_SECONDS = 1.0
"""Least time between attempts to open a new file after a failed write."""
BATCH_ROWS = 64
"""Rows buffered before they are written as one record batch (also flushed each second)."""


@dataclass
class RecordStats:
    """What ``townlet record`` prints at the end (and the probes report)."""

    messages: int = 0
    bytes: int = 0
    files: int = 0
    deleted: int = 0
    write_failures: int = 0
    gaps: int = 0
    last_tick: int | None = None
    last_error: str | None = None


class Recorder:
    """Receive from ``sub`` and write to ``directory``.

    Parameters
    ----------
    sub
        A connected :class:`~townlet.client.subscriber.Subscriber`.
    directory
        Where recordings go (created if missing).
    fmt
        ``arrow`` (Arrow IPC file) or ``parquet``.
    rotate_bytes, max_bytes
        Start a new file beyond this size; keep the directory below this total.
    """

    def __init__(self, sub: Subscriber, directory: str | Path, *,
                 fmt: Literal["arrow", "parquet"] = "arrow", rotate_bytes: int = 256 << 20,
                 max_bytes: int = 4 << 30, registry: CollectorRegistry | None = None) -> None:
        if rotate_bytes < 1 or max_bytes < rotate_bytes:
            raise ValueError(f"need 1 <= rotate_bytes <= max_bytes, got {rotate_bytes}, "
                             f"{max_bytes}")
        self.sub = sub
        self.directory = Path(directory)
        self.fmt = fmt
        self.rotate_bytes = rotate_bytes
        self.max_bytes = max_bytes
        self.stats = RecordStats()
        self.loop_at = time.monotonic()
        self._writer: FileWriter | None = None
        self._rows: list[Row] = []
        self._rotating = False
        self._retry_at = 0.0
        self._flush_at = 0.0
        self._n_file = 0
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.m_messages = Counter(_P + "messages", "Frame messages written", ["kind"],
                                  registry=r)
        self.m_bytes = Counter(_P + "bytes", "Payload bytes written", registry=r)
        self.m_files = Counter(_P + "files", "Recording files started", registry=r)
        self.m_deleted = Counter(_P + "files_deleted",
                                 "Old recordings deleted to stay under the size cap",
                                 registry=r)
        self.m_failures = Counter(_P + "write_failures",
                                  "Messages that could not be written", registry=r)
        self.m_gaps = Counter(_P + "gaps", "Gaps in the stream", registry=r)
        self.m_disk = Gauge(_P + "disk_bytes", "Bytes the recording files take", registry=r)

    # ------------------------------------------------------------------ loop
    def step(self, timeout: float = 0.2) -> Update | None:
        """Receive at most one message and record it; returns it (None on timeout)."""
        self.loop_at = time.monotonic()
        gaps = self.sub.stats.gaps
        up = self.sub.recv(timeout)
        if self.sub.stats.gaps > gaps:
            self._gap(self.sub.stats.gaps - gaps)
        if up is not None and up.kind in ("key", "delta"):
            self._record(up)
        if self._rows and time.monotonic() >= self._flush_at:
            self._flush()
        return up

    @property
    def recorded(self) -> int:
        """Messages recorded so far (written or buffered)."""
        return self.stats.messages + len(self._rows)

    def close(self) -> None:
        """Write what is buffered and close the current file."""
        self._flush()
        self._close_file()

    # --------------------------------------------------------------- writing
    def _record(self, up: Update) -> None:
        if up.kind == "key" and (self._writer is None or self._rotating):
            self._flush()
            self._close_file()
            if time.monotonic() < self._retry_at:
                return
            self._open_file()
        if self._writer is None:
            return  # waiting for a keyframe to start a file with
        self._rows.append(Row(seq=up.seq, tick=up.tick, kind=up.kind,
                              stream=self.sub.stream or "", received_ns=time.time_ns(),
                              payload=self.sub.last_payload))
        self.stats.last_tick = up.tick
        if len(self._rows) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        self._flush_at = time.monotonic() + 1.0
        rows, self._rows = self._rows, []
        if not rows or self._writer is None:
            return
        try:
            self._writer.write(rows)
        except OSError as exc:
            self._failed(exc, len(rows))
            return
        for row in rows:
            self.m_messages.labels(row.kind).inc()
        nbytes = sum(len(r.payload) for r in rows)
        self.m_bytes.inc(nbytes)
        self.stats.messages += len(rows)
        self.stats.bytes += nbytes
        if self.stats.last_error is not None:
            _log.info("record_write_recovered", path=str(self._writer.path))
            self.stats.last_error = None
        if self._writer.size() >= self.rotate_bytes and not self._rotating:
            self._rotating = True
            self.sub.request_keyframe()

    def _open_file(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self._n_file += 1
        path = self.directory / f"rec-{stamp}-{self._n_file:05d}{SUFFIXES[self.fmt]}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._writer = FileWriter.open(path, self.fmt, config_id=self.sub.config_id)
        except OSError as exc:
            self._failed(exc, 1)
            return
        self._rotating = False
        self.stats.files += 1
        self.m_files.inc()
        _log.info("record_file_started", path=str(path))
        self._enforce_cap(keep=path)

    def _close_file(self) -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.close()
        except OSError as exc:
            self._failed(exc, 0)

    def _failed(self, exc: OSError, lost: int) -> None:
        """A write failed: drop the file, log once per failure streak, retry later."""
        first = self.stats.last_error is None
        self.stats.write_failures += lost
        self.stats.last_error = f"{exc.__class__.__name__}: {exc}"
        self.m_failures.inc(lost)
        if first:
            _log.error("record_write_failed", directory=str(self.directory),
                       error=self.stats.last_error, messages_lost=lost)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abandon()
        self._retry_at = time.monotonic() + RETRY_SECONDS

    def _gap(self, n: int) -> None:
        """The stream has a gap: the file continues at the next keyframe."""
        self.stats.gaps += n
        self.m_gaps.inc(n)
        self._flush()
        self._rotating = True  # a new file starts with the keyframe the subscriber requested

    def _enforce_cap(self, keep: Path) -> None:
        """Delete the oldest recordings until the directory holds at most ``max_bytes``."""
        files = recording_files(self.directory)
        sizes = {p: p.stat().st_size for p in files}
        total = sum(sizes.values())
        for p in files:
            if total <= self.max_bytes or p == keep:
                break
            p.unlink(missing_ok=True)
            total -= sizes[p]
            self.stats.deleted += 1
            self.m_deleted.inc()
            _log.info("record_file_deleted", path=str(p), reason="size cap")
        self.m_disk.set(total)

    # ---------------------------------------------------------------- probes
    def live(self) -> tuple[bool, str]:
        age = time.monotonic() - self.loop_at
        return age < 5.0, f"loop turned {age:.1f}s ago"

    def ready(self) -> tuple[bool, str]:
        if not self.sub.synced:
            return False, "waiting for a keyframe"
        if self.stats.last_error is not None:
            return False, f"writes failing: {self.stats.last_error}"
        return True, f"recording tick {self.stats.last_tick}"

    def summary(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "format": self.fmt,
                **self.stats.__dict__}
