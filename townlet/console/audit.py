"""Audit log: one JSON line per console request, to a size-rotated file and to structlog.

Every attempt is recorded, accepted or refused: time, identity, key id, role,
command, cmd_id, arguments (secret-looking names redacted, long values cut),
result code, duration and tick. Written on the console's I/O thread, never on
the simulation thread.
"""

from __future__ import annotations

import logging
import logging.handlers
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
    """JSON-lines audit file with size rotation, mirrored to the structured log."""

    def __init__(self, path: str | Path, max_bytes: int, backups: int) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        self.path = p
        self._handler = logging.handlers.RotatingFileHandler(
            p, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger = logging.getLogger(f"townlet.console.audit.file.{p.resolve()}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        for old in list(self._logger.handlers):  # a previous server on the same file
            self._logger.removeHandler(old)
        self._logger.addHandler(self._handler)
        self._encoder = msgspec.json.Encoder()
        self.records = 0

    def write(self, rec: AuditRecord) -> None:
        """Append one record (file and structured log)."""
        self._logger.info(self._encoder.encode(rec).decode())
        self.records += 1
        level = _log.info if rec.code == "OK" else _log.warning
        level("console_request", **msgspec.structs.asdict(rec))

    def close(self) -> None:
        """Flush and close the file."""
        self._handler.close()

    @staticmethod
    def now() -> str:
        """Current UTC time in ISO 8601 with milliseconds."""
        return datetime.now(UTC).isoformat(timespec="milliseconds")
