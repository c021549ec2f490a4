"""Structured logs: one JSON object per line (``time``, ``level``, ``logger``, ``message``, and for
the access line ``request_id``, ``method``, ``path`` (the route template), ``status``,
``duration_ms``, ``client_id``, ``tenant``, ``fault``).

No personal data and no credentials reach a line: the access line is built from the route
template and ids only, the other loggers already mask PINs (CONTRIBUTING), and the formatter drops
every ``extra`` field it does not know.

Lines are written by a thread of their own (:func:`queued`): a request's thread, the event loop,
only puts the record on a queue (~2 µs); formatting and the write to the stream happen behind it
(bench/logging_cost.py measures both).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from typing import IO, Any

ACCESS_LOGGER = "dancu.access"
FIELDS = ("request_id", "method", "path", "status", "duration_ms", "client_id", "tenant",
          "fault")


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second, self._stamp = -1, ""

    def _time(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # one datetime per second, not per line
            self._second = second
            self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._stamp}.{int((created - second) * 1000):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._time(record.created), "level": _LEVELS.get(record.levelno)
            or record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__  # the type only: a message may quote data
        return json.dumps(line, ensure_ascii=False)


_LEVELS = {level: logging.getLevelName(level).lower()
           for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR,
                         logging.CRITICAL)}


class _Enqueue(QueueHandler):
    """Puts records on the queue as they are: formatting is the writer thread's work. The message
    is merged with its arguments here (they could change later) and a traceback dropped (the
    line names the exception's type only), so the record holds no frames."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.args:
            record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_info = (record.exc_info[0], None, None)  # type: ignore[assignment]
        return record


def queued(stream: IO[str] | None = None) -> logging.Handler:
    """A handler whose JSON lines a :class:`QueueListener` thread formats and writes to
    ``stream`` (stderr); the thread is stopped (the queue drained) when the process exits."""
    # The lines name no thread, process or task: records stop looking them up (a third of a
    # record's cost).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]
    writer = logging.StreamHandler(stream or sys.stderr)
    writer.setFormatter(JsonFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = QueueListener(records, writer, respect_handler_level=False)
    listener.start()
    atexit.register(listener.stop)
    return _Enqueue(records)


def config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (and uvicorn ``log_config``) writing JSON lines to stderr
    through a queue (:func:`queued`); uvicorn's own access log is off: ``dancu.access`` writes
    one line per request instead."""
    handler = {"()": f"{__name__}.queued", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


_ACCESS = logging.getLogger(ACCESS_LOGGER)


def access(**fields: Any) -> None:
    """Write the access line of one request. The record is made here, not by ``Logger.info``,
    whose search of the call stack for a source line (unused: the line has none) cost as much
    as the rest of the record."""
    if _ACCESS.isEnabledFor(logging.INFO):
        _ACCESS.handle(_ACCESS.makeRecord(
            ACCESS_LOGGER, logging.INFO, "", 0, "%s %s %s",
            (fields.get("method"), fields.get("path"), fields.get("status")), None,
            extra=fields))
