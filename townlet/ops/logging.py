"""Structured logs on stderr for every townlet process, one renderer per stream.

stdout is reserved for results (``--json`` summaries, ready lines). Every log
record, from structlog or from the standard ``logging`` module (pyzmq, snapshot
warnings), leaves through one handler on the ``townlet`` logger and one
renderer: JSON lines when stderr is not a terminal (pipelines, containers, CI),
readable key=value lines on a terminal. Each process decides for its own
stderr, so a terminal never shows a mix. ``quiet`` (tests) prints nothing:
records only propagate to the root logger, where pytest captures them per test.

Every record carries the process's context: ``role`` (simulation, publisher,
recorder, ...), ``config_id`` and ``tick`` (null until known), set once with
:func:`set_log_context`, plus whatever a thread bound with structlog's
contextvars (the console binds the caller's ``identity`` per request). The keys
are :data:`CONTEXT_KEYS`; docs/ops/metrics.md ("Logs") lists them. A record's own
``role`` (the role of a key, in audit lines and ZAP decisions) becomes ``key_role``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["CONFIG_ID_ENV", "CONTEXT_KEYS", "configure_logging", "set_log_context"]

CONFIG_ID_ENV = "TOWNLET_CONFIG_ID"
"""Carries ``config_id`` to child processes (the publisher logs the simulation's)."""
CONTEXT_KEYS = ("timestamp", "level", "event", "logger", "role", "config_id", "tick")
"""Keys every JSON log line has (``identity`` is added on console request lines)."""


class _Context:
    """The process-wide part of every record: role, config_id and a tick source."""

    role: str | None = None
    config_id: str | None = os.environ.get(CONFIG_ID_ENV) or None
    tick: Callable[[], int | None] | None = None


def set_log_context(*, role: str | None = None, config_id: str | None = None,
                    tick: Callable[[], int | None] | None = None) -> None:
    """Set what every later record of this process carries (arguments left None keep
    their value). ``tick`` is called per record, from any thread, so it must only read."""
    if role is not None:
        _Context.role = role
    if config_id is not None:
        _Context.config_id = config_id
        os.environ[CONFIG_ID_ENV] = config_id  # inherited by the processes this one starts
    if tick is not None:
        _Context.tick = tick


def _add_context(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    if "role" in event:  # a key's role (audit, ZAP decisions): ``role`` is the process's
        event["key_role"] = event.pop("role")
    event["role"] = _Context.role
    event.setdefault("config_id", _Context.config_id)
    if "tick" not in event:
        source = _Context.tick
        event["tick"] = source() if source is not None else None
    return event


def _add_logger_name(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    name = record.name if record is not None else getattr(_logger, "name", None)
    event.setdefault("logger", name)
    return event


_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True)
_SHARED: list[Processor] = [structlog.contextvars.merge_contextvars,
                            structlog.stdlib.add_log_level, _TIMESTAMP, _add_logger_name,
                            _add_context]


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
