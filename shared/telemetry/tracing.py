"""OpenTelemetry traces, made by hand where it matters: one server span per request, one client
span per outbound call, one consumer span per stream entry, W3C trace context in between.

The stock Litestar and httpx instrumentations cost several hundred microseconds a request
here (their layers, not the spans); an SDK span made directly costs about 20. So:

- :class:`ServerSpanMiddleware` (pure ASGI, installed by :class:`TracingPlugin`, outermost)
  extracts ``traceparent``, names the span by the route template, records the status and
  makes the span current, so a handler that enqueues work writes
  :func:`current_traceparent` into the message and the consumer continues this span;
- :class:`TracedTransport` wraps an httpx transport (``shared.http.make_client`` does) and
  injects ``traceparent`` into each outbound request;
- :func:`consumer_span` opens the span of one stream entry as a child of the entry's
  ``traceparent`` (``shared.events.StreamWorker``), and :func:`current_traceparent` is what
  a producer writes into an entry.

One :class:`Tracing` per process (:func:`process_tracing`, from ``STRATA_TELEMETRY_*``): an
SDK ``TracerProvider`` with a batch span processor (:class:`LeanBatchProcessor`) when an
exporter is configured (OTLP over HTTP), otherwise tracers that record nothing but still
propagate the caller's trace context, so a service without an exporter never breaks a trace.
The spans themselves are :class:`LeanSpan` objects, which become :class:`FinishedSpan` (the
SDK's ``ReadableSpan`` interface) when they end: the SDK's own span costs about 21 µs, this
one about 3 (see ``LeanSpan``).

The code lives in one module per concern, and this module names them all in one place:
``settings`` (``STRATA_TELEMETRY_*``), ``context`` (W3C trace context and the correlation
id), ``spans`` (lean spans and the process's :class:`Tracing`), ``asgi`` (server spans),
``httpx_transport`` (client spans) and ``consumer`` (stream entry spans).
"""

from __future__ import annotations

from shared.telemetry.asgi import (
    CORRELATION_HEADER,
    ServerSpanMiddleware,
    TracingPlugin,
    server_span,
)
from shared.telemetry.consumer import consumer_span, fail_span
from shared.telemetry.context import (
    CORRELATION_ID,
    TRACEPARENT,
    TRACESTATE,
    current_traceparent,
    format_traceparent,
    parent_context,
    parse_traceparent,
    recording_traceparent,
)
from shared.telemetry.httpx_transport import TracedTransport
from shared.telemetry.settings import PREFIX, TelemetrySettings, load_telemetry_settings
from shared.telemetry.spans import (
    FinishedSpan,
    LeanSpan,
    LeanTracer,
    Tracing,
    install_tracing,
    process_tracing,
)

__all__ = [
    "CORRELATION_HEADER",
    "CORRELATION_ID",
    "PREFIX",
    "TRACEPARENT",
    "TRACESTATE",
    "FinishedSpan",
    "LeanSpan",
    "LeanTracer",
    "ServerSpanMiddleware",
    "TelemetrySettings",
    "TracedTransport",
    "Tracing",
    "TracingPlugin",
    "consumer_span",
    "current_traceparent",
    "fail_span",
    "format_traceparent",
    "install_tracing",
    "load_telemetry_settings",
    "parent_context",
    "parse_traceparent",
    "process_tracing",
    "recording_traceparent",
    "server_span",
]
