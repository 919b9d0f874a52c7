"""Structured logs on stderr for every townlet process, one renderer per stream.

stdout is reserved for results (``--json`` summaries, ready lines). Every log
record, from structlog or from the standard ``logging`` module (pyzmq, snapshot
warnings), leaves through one handler on the ``townlet`` logger and one
renderer: JSON lines when stderr is not a terminal (pipelines, containers, CI),
readable key=value lines on a terminal. Each process decides for its own
stderr, so a terminal never shows a mix. ``quiet`` (tests) prints nothing:
records only propagate to the root logger, where pytest captures them per test.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import Processor

__all__ = ["configure_logging"]

_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True)
_SHARED: list[Processor] = [structlog.stdlib.add_log_level, _TIMESTAMP]


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is at emit time (redirects work)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        """The stream is always the current ``sys.stderr``."""


def configure_logging(json: bool | None = None, *, quiet: bool = False,
                      level: int = logging.INFO) -> None:
    """Configure logging once per process (``json=None``: decide by the terminal)."""
    if structlog.is_configured():
        return
    if json is None:
        json = not sys.stderr.isatty()
    renderer = (structlog.processors.JSONRenderer() if json
                else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_SHARED,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger)
    root = logging.getLogger("townlet")
    root.setLevel(level)
    if quiet:
        root.addHandler(logging.NullHandler())
        return
    handler = _CurrentStderr()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
        foreign_pre_chain=_SHARED))
    root.addHandler(handler)
    root.propagate = False  # the root logger (if the host configured one) would print it again
