"""Structured logs: one JSON object per line (``time``, ``level``, ``logger``, ``message``, and for
the access line ``request_id``, ``method``, ``path`` (the route template), ``status``,
``duration_ms``, ``client_id``, ``tenant``, ``fault``).

No personal data and no credentials reach a line: the access line is built from the route
template and ids only, the other loggers already mask PINs (CONTRIBUTING), and the formatter drops
every ``extra`` field it does not know.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

ACCESS_LOGGER = "dancu.access"
FIELDS = ("request_id", "method", "path", "status", "duration_ms", "client_id", "tenant",
          "fault")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage()}
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__  # the type only: a message may quote data
        return json.dumps(line, ensure_ascii=False)


def config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (and uvicorn ``log_config``) writing JSON lines to stderr;
    uvicorn's own access log is off: ``dancu.access`` writes one line per request instead."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
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


def access(**fields: Any) -> None:
    """Write the access line of one request."""
    logging.getLogger(ACCESS_LOGGER).info(
        "%s %s %s", fields.get("method"), fields.get("path"), fields.get("status"), extra=fields)
