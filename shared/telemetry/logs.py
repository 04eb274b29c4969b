"""JSON log lines with the trace id, span id and correlation id of the work in hand.

``strata serve`` passes :func:`uvicorn_log_config` to uvicorn, so the service's own loggers
and uvicorn's write one JSON object a line to stderr. The formatter only runs for records
that pass the level, and reads the ids from context variables: nothing is paid per request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
from opentelemetry import trace

from shared.telemetry.context import CORRELATION_ID

_ENCODE = msgspec.json.Encoder().encode
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, service, trace and
    correlation ids, exception text, and any ``extra={...}`` fields."""

    def __init__(self, service: str = "strata") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = f"{context.trace_id:032x}"
            line["span_id"] = f"{context.span_id:016x}"
        correlation = CORRELATION_ID.get()
        if correlation:
            line["correlation_id"] = correlation
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _ENCODE(line).decode()


def _utc(created: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        + f".{int(created % 1 * 1000):03d}Z"
    )


def uvicorn_log_config(service: str, level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document for ``uvicorn.run(log_config=...)``.

    ``fmt="text"`` keeps plain lines (a developer's terminal). httpx's per-request INFO lines
    stay off: they cost throughput on proxying routes and say nothing the spans don't.
    """
    formatter: dict[str, Any] = (
        {"()": JsonLogFormatter, "service": service}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"strata": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "strata",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Install :func:`uvicorn_log_config` for this process (workers outside uvicorn)."""
    import logging.config

    logging.config.dictConfig(uvicorn_log_config(service, level, fmt))
