"""W3C trace context: ``traceparent`` values parsed and formatted, the current span's
``traceparent`` (what a producer writes into a message), the remote parent of inbound work,
and the correlation id of the work in hand.
"""

from __future__ import annotations

from contextvars import ContextVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_HEX = frozenset("0123456789abcdef")

#: The correlation id of the work in hand (a request's ``X-Correlation-Id``, a webhook's
#: event id); JSON log lines carry it next to the trace id.
CORRELATION_ID: ContextVar[str | None] = ContextVar("strata_correlation_id", default=None)


def parse_traceparent(value: str | bytes | None) -> SpanContext | None:
    """The remote span context of a W3C ``traceparent`` value, or None if it is not valid."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if len(text) < 55 or text[2] != "-" or text[35] != "-" or text[52] != "-":
        return None
    version = text[:2]
    if version == "ff" or (version == "00" and len(text) != 55):
        return None
    if not _HEX.issuperset(text[:2] + text[3:35] + text[36:52] + text[53:55]):
        return None
    trace_id = int(text[3:35], 16)
    span_id = int(text[36:52], 16)
    if not trace_id or not span_id:
        return None
    return SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(text[53:55], 16))
    )


def format_traceparent(context: SpanContext) -> str:
    """The W3C ``traceparent`` value naming ``context`` as the parent."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags & 1:02x}"


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span, or None outside any span."""
    context = trace.get_current_span().get_span_context()
    return format_traceparent(context) if context.is_valid else None


def recording_traceparent() -> str | None:
    """The ``traceparent`` of the current span if it is recorded, else None (a span that is
    not exported should not become anyone's parent: pass the caller's context on instead)."""
    span = trace.get_current_span()
    return format_traceparent(span.get_span_context()) if span.is_recording() else None


def parent_context(traceparent: str | bytes | None) -> otel_context.Context | None:
    """An OpenTelemetry context whose current span is the remote parent ``traceparent``."""
    remote = parse_traceparent(traceparent)
    if remote is None:
        return None
    return trace.set_span_in_context(NonRecordingSpan(remote))
