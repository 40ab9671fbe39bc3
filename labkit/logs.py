"""Structured logging for every process the project starts.

Libraries log with the standard library and put their fields in ``extra``::

    log = logging.getLogger(__name__)
    log.info("session started", extra={"session": sid, "course": slug})

Only entry points call :func:`configure_logging`; it renders each record as
one line, either JSON (for machines) or ``key=value`` pairs (for people
reading a terminal), so the same call sites serve both.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

LogFormat = Literal["json", "kv"]

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}  # uvicorn adds an ANSI copy of msg
)


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The ordered fields of one log line: time, level, logger, msg, extras."""
    fields: dict[str, object] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for key, value in vars(record).items():
        if key not in _RECORD_ATTRS and not key.startswith("_"):
            fields[key] = value
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values that JSON lacks become strings."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), default=str, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """``key=value`` pairs (logfmt); values with spaces or quotes are quoted."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in record_fields(record).items())


def _logfmt_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


def configure_logging(
    fmt: LogFormat = "kv", level: str | int = "INFO", stream: TextIO | None = None
) -> None:
    """Send every logger's records, uvicorn's included, through one formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # uvicorn installs handlers of its own unless told otherwise; route its
    # loggers to the root handler so its lines share the format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # httpx logs every request at INFO; a health poller would fill the log with them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
