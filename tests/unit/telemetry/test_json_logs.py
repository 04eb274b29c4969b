"""JSON log lines carry the trace, span and correlation ids of the work in hand."""

from __future__ import annotations

import json
import logging
import logging.config

from opentelemetry import trace

from shared.telemetry.logs import JsonLogFormatter, uvicorn_log_config
from shared.telemetry.tracing import CORRELATION_ID, TelemetrySettings, Tracing, parent_context

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("strata.orders", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_a_line_inside_a_span_names_its_trace_and_correlation() -> None:
    formatter = JsonLogFormatter(service="orders")
    span = (
        Tracing.from_settings(TelemetrySettings())
        .tracer("t")
        .start_span("process", parent_context(CALLER))
    )
    token = CORRELATION_ID.set("evt-77")
    try:
        with trace.use_span(span, end_on_exit=True):
            line = json.loads(formatter.format(record("order %s held", "1001", shop="eu")))
    finally:
        CORRELATION_ID.reset(token)
    assert line["message"] == "order 1001 held"
    assert line["level"] == "WARNING"
    assert line["logger"] == "strata.orders"
    assert line["service"] == "orders"
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert line["correlation_id"] == "evt-77"
    assert line["shop"] == "eu"
    assert line["time"].endswith("Z")


def test_a_line_outside_any_span_has_no_ids_and_keeps_the_traceback() -> None:
    formatter = JsonLogFormatter()
    try:
        raise ValueError("bad mapping")
    except ValueError:
        import sys

        made = record("mapping failed")
        made.exc_info = sys.exc_info()
    line = json.loads(formatter.format(made))
    assert "trace_id" not in line
    assert "correlation_id" not in line
    assert "ValueError: bad mapping" in line["exception"]


def test_the_uvicorn_config_installs_the_formatter() -> None:
    config = uvicorn_log_config("erp", "INFO")
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logging.config.dictConfig(config)
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonLogFormatter)
        assert handler.formatter.service == "erp"
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
