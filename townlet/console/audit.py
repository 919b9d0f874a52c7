"""Audit log: one JSON line per console request, to a size-rotated file and to structlog.

Every attempt is recorded, accepted or refused: time, identity, key id, role,
command, cmd_id, arguments (secret-looking names redacted, long values cut),
result code, duration and tick. Written on the console's I/O thread, never on
the simulation thread, and batched: lines are buffered and written with one
``write`` per I/O loop iteration (:meth:`AuditLog.flush`), so a burst of
requests costs one system call, not one per request.

Structured-log levels: refusals and errors ``warning``, successful
state-changing commands ``info``, successful reads ``debug``.
"""

from __future__ import annotations

import io
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import structlog

__all__ = ["AuditLog", "AuditRecord", "redact"]

_SECRET = re.compile(r"secret|password|passwd|token|private|credential|api_?key", re.IGNORECASE)
_MAX_STR = 200
_MAX_ITEMS = 16
_MAX_DEPTH = 4
_log = structlog.get_logger("townlet.console.audit")


class AuditRecord(msgspec.Struct, frozen=True):
    """One audited request."""

    ts: str
    identity: str | None
    key_id: str | None
    role: str | None
    command: str | None
    cmd_id: str
    args: Any
    kwargs: Any
    code: str
    duration_ms: float
    tick: int | None
    replay: bool = False
    message: str | None = None


def _clean(value: Any, depth: int = 0) -> Any:
    if depth >= _MAX_DEPTH:
        return "[nested]"
    if isinstance(value, str):
        return value if len(value) <= _MAX_STR else value[:_MAX_STR] + "...[cut]"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"[{len(value)} bytes]"
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_ITEMS]
        return {str(k)[:64]: ("[redacted]" if _SECRET.search(str(k)) else _clean(v, depth + 1))
                for k, v in items}
    if isinstance(value, (list, tuple)):
        out = [_clean(v, depth + 1) for v in value[:_MAX_ITEMS]]
        return out + ["[cut]"] if len(value) > _MAX_ITEMS else out
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return f"[{type(value).__name__}]"


def redact(args: Any, kwargs: Any) -> tuple[Any, Any]:
    """Arguments as they may be logged: secret-named kwargs redacted, everything bounded."""
    return _clean(args), _clean(kwargs)


class AuditLog:
    """Buffered JSON-lines audit file with size rotation, mirrored to the structured log.

    Parameters
    ----------
    path
        The current file; rotated files are ``path.1`` (newest) .. ``path.<backups>``.
    max_bytes
        Rotate before a write would make the file larger than this.
    backups
        Rotated files kept.
    """

    def __init__(self, path: str | Path, max_bytes: int, backups: int) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        self.path = p
        self.max_bytes = max_bytes
        self.backups = backups
        self._file = self._open()
        self._size = self._file.tell()
        self._pending: list[bytes] = []
        self._encoder = msgspec.json.Encoder()
        self.records = 0
        self.failures = 0
        """Flushes whose lines could not be written to the file."""
        self.error: str | None = None
        """Why the last flush failed; None once one succeeds (``health`` reports it)."""

    def write(self, rec: AuditRecord, mutates: bool = False) -> None:
        """Buffer one record for the file and emit it to the structured log."""
        self._pending.append(self._encoder.encode(rec) + b"\n")
        self.records += 1
        if rec.code != "OK":
            level = logging.WARNING
        else:
            level = logging.INFO if mutates else logging.DEBUG
        if _log.is_enabled_for(level):
            _log.log(level, "console_request", **msgspec.structs.asdict(rec))

    def flush(self) -> None:
        """Write every buffered line (one write per call), rotating by size first.

        A failing disk (full, read-only, removed) must not stop the console: the lines are
        then dropped from the file (each was already emitted to the structured log) and
        the failure is logged, once per flush, with the number of lines lost.
        """
        if not self._pending:
            return
        data = b"".join(self._pending)
        lines = len(self._pending)
        self._pending.clear()
        try:
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            view = memoryview(data)
            while view:  # unbuffered: a failed write leaves nothing behind to retry
                view = view[self._file.write(view):]
        except OSError as exc:
            self.failures += 1
            self.error = exc.strerror
            _log.error("audit_write_failed", path=str(self.path), lines_lost=lines,
                       error=exc.strerror)
            return
        self._size += len(data)
        self.error = None

    def _rotate(self) -> None:
        """Shift the backups and start a new file; the open file is only swapped once the
        new one exists, so a failure here leaves a usable file behind."""
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        old, self._file = self._file, self._open()
        old.close()
        self._size = 0

    def _open(self) -> io.FileIO:
        return open(self.path, "ab", buffering=0)

    def close(self) -> None:
        """Flush and close the file."""
        if not self._file.closed:
            self.flush()
            self._file.close()

    @staticmethod
    def now() -> str:
        """Current UTC time in ISO 8601 with milliseconds."""
        return datetime.now(UTC).isoformat(timespec="milliseconds")
