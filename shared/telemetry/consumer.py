"""Consumer spans for stream entries: :func:`consumer_span` opens the span of one entry as a
child of the entry's ``traceparent`` (``shared.events.StreamWorker``), and :func:`fail_span`
marks it failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.telemetry.context import CORRELATION_ID, TRACEPARENT, parent_context


@contextlib.contextmanager
def consumer_span(
    tracer: trace.Tracer,
    stream: str,
    entry_id: str,
    fields: Mapping[str, str],
    *,
    attempt: int = 1,
    correlation: str | None = None,
) -> Iterator[Span]:
    """The CONSUMER span of one stream entry, a child of the entry's ``traceparent``, made
    current (with the correlation id) while the handler runs. The caller sets its status."""
    span = tracer.start_span(
        f"{stream} process",
        parent_context(fields.get(TRACEPARENT)),
        SpanKind.CONSUMER,
        {
            "messaging.system": "redis",
            "messaging.operation.type": "process",
            "messaging.destination.name": stream,
            "messaging.message.id": entry_id,
            "strata.attempt": attempt,
        },
    )
    token = otel_context.attach(trace.set_span_in_context(span))
    bound = CORRELATION_ID.set(correlation) if correlation else None
    try:
        yield span
    finally:
        if bound is not None:
            CORRELATION_ID.reset(bound)
        otel_context.detach(token)
        span.end()


def fail_span(span: Span | None, reason: str) -> None:
    """Mark ``span`` failed with ``reason`` (when there is one and it records)."""
    if span is not None and span.is_recording():
        span.set_status(Status(StatusCode.ERROR, reason[:200]))
