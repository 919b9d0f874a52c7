"""Structured logs on stderr for every townlet process.

stdout is reserved for results (``--json`` summaries, ready lines); logs go to
stderr as JSON lines when stderr is not a terminal (pipelines, containers, CI),
and as readable key=value lines on a terminal. A logged exception keeps its traceback
in both forms, without local variables (they may hold keys).
"""

from __future__ import annotations

import sys

import structlog

__all__ = ["configure_logging"]


def configure_logging(json: bool | None = None) -> None:
    """Configure structlog once per process (``json=None``: decide by the terminal)."""
    if structlog.is_configured():
        return
    if json is None:
        json = not sys.stderr.isatty()
    if json:  # exc_info becomes a structured "exception" field (JSONRenderer alone drops it)
        tail = [structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer()]
    else:
        tail = [structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback)]
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), *tail],
        logger_factory=_stderr_logger)


def _stderr_logger(*_args) -> structlog.PrintLogger:
    """A logger on whatever ``sys.stderr`` is now (so test capture and redirects work)."""
    return structlog.PrintLogger(sys.stderr)
