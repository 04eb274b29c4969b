"""Lean spans and one :class:`Tracing` per process.

One :class:`Tracing` per process (:func:`process_tracing`, from ``STRATA_TELEMETRY_*``): an
SDK ``TracerProvider`` with a batch span processor (:class:`LeanBatchProcessor`) when an
exporter is configured (OTLP over HTTP), otherwise tracers that record nothing but still
propagate the caller's trace context, so a service without an exporter never breaks a trace.
The spans themselves are :class:`LeanSpan` objects, which become :class:`FinishedSpan` (the
SDK's ``ReadableSpan`` interface) when they end: the SDK's own span costs about 21 µs, this
one about 3 (see ``LeanSpan``).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.util._decorator import _agnosticcontextmanager

from shared.telemetry.export import LeanBatchProcessor
from shared.telemetry.settings import PREFIX, TelemetrySettings, load_telemetry_settings

_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_SAMPLED_BIT = int(TraceFlags.SAMPLED)
_LOW_64 = (1 << 64) - 1
_random_bits = random.getrandbits
_new_tuple = tuple.__new__
_NO_STATE = TraceState()
_current_span = trace.get_current_span


class FinishedSpan(msgspec.Struct, frozen=True, gc=False):
    """One ended span as the batch span processor queues it and exporters read it: the
    ``ReadableSpan`` interface over integers and plain values, outside the garbage
    collector's reach.

    Spans wait in the queue for their batch. The SDK's span objects (several tracked
    containers each) survived two collections there and were promoted to the oldest
    generation, making full collections frequent, and building ``ReadableSpan`` objects for
    each batch triggered young collections of its own: measured here, collection time went
    from about 12 to 60 µs a request with all controls on. ``readable()`` gives the SDK's
    own type to code that insists on it.
    """

    name: str
    trace_id: int
    span_id: int
    flags: int
    parent_id: int  # 0: a root span
    parent_remote: bool
    kind: SpanKind
    start_time: int
    end_time: int
    attributes: dict[str, Any]
    status: Status
    events: tuple[Event, ...]
    instrumentation_scope: InstrumentationScope
    resource: Resource

    @property
    def context(self) -> SpanContext:
        """The span's own trace id, span id and flags."""
        return SpanContext(self.trace_id, self.span_id, False, TraceFlags(self.flags))

    def get_span_context(self) -> SpanContext:
        """As :attr:`context`."""
        return self.context

    @property
    def parent(self) -> SpanContext | None:
        """The parent span's context, None for a root span."""
        if not self.parent_id:
            return None
        return SpanContext(
            self.trace_id, self.parent_id, self.parent_remote, TraceFlags(self.flags)
        )

    @property
    def links(self) -> tuple[trace.Link, ...]:
        """Links to other traces (none are made here)."""
        return ()

    @property
    def dropped_attributes(self) -> int:
        """Nothing is dropped: our own instrumentation sets a handful of attributes."""
        return 0

    @property
    def dropped_events(self) -> int:
        """Nothing is dropped."""
        return 0

    @property
    def dropped_links(self) -> int:
        """Nothing is dropped."""
        return 0

    @property
    def instrumentation_info(self) -> None:
        """The deprecated predecessor of :attr:`instrumentation_scope`."""
        return None

    def readable(self) -> ReadableSpan:
        """The SDK's ``ReadableSpan`` of this span."""
        return ReadableSpan(
            name=self.name,
            context=self.context,
            parent=self.parent,
            resource=self.resource,
            attributes=self.attributes,
            events=self.events,
            kind=self.kind,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            instrumentation_scope=self.instrumentation_scope,
        )

    def to_json(self, indent: int | None = 4) -> str:
        """The SDK's JSON form (the console exporter's)."""
        text: str = self.readable().to_json(indent)
        return text


class LeanSpan(trace.Span):
    """A recording span that is only a few fields while it runs and a :class:`FinishedSpan`
    once it ends, skipping what costs most in the SDK's span here (attribute validation and
    limits, locks, processor start hooks, self-metrics): about 3 µs against 21.

    Only our own instrumentation makes these, with plain attribute values (str, bool, int,
    float); once ended, a span ignores changes.
    """

    __slots__ = (
        "_attributes",
        "_context",
        "_end_time",
        "_events",
        "_ids",
        "_kind",
        "_name",
        "_parent",
        "_start_time",
        "_status",
        "_tracer",
    )

    def __init__(
        self,
        tracer: LeanTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Mapping[str, Any] | None,
        start_time: int | None = None,
        ids: tuple[int, int, int, int, bool] | None = None,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._context = context
        self._parent = parent
        #: (trace id, span id, flags, parent span id or 0, parent remote), as the tracer
        #: worked them out: read back from the contexts' properties at the end otherwise.
        self._ids = ids or (
            context.trace_id,
            context.span_id,
            context.trace_flags,
            parent.span_id if parent is not None else 0,
            parent.is_remote if parent is not None else False,
        )
        self._kind = kind
        self._attributes: dict[str, Any] = dict(attributes) if attributes else {}
        self._events: list[Event] | None = None
        self._status = _UNSET
        self._start_time = start_time or time.time_ns()
        self._end_time: int | None = None

    @property
    def name(self) -> str:
        """The span's name."""
        return self._name

    def get_span_context(self) -> SpanContext:
        """This span's trace id, span id and flags."""
        return self._context

    def is_recording(self) -> bool:
        """True until the span ends."""
        return self._end_time is None

    def set_attribute(self, key: str, value: Any) -> None:
        """Record one attribute (a str, bool, int or float, or a sequence of one of them)."""
        if self._end_time is None:
            self._attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Record several attributes."""
        if self._end_time is None:
            self._attributes.update(attributes)

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        """Record an event (at ``timestamp`` in epoch nanoseconds, default now)."""
        if self._end_time is None:
            if self._events is None:
                self._events = []
            self._events.append(Event(name, attributes, timestamp or time.time_ns()))

    def update_name(self, name: str) -> None:
        """Rename the span (a route known only after routing, say)."""
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set OK or ERROR (with a description)."""
        if self._end_time is None:
            self._status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Any = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Record ``exception`` as an ``exception`` event."""
        event = {
            "exception.type": type(exception).__qualname__,
            "exception.message": str(exception),
            "exception.escaped": escaped,
            **dict(attributes or {}),
        }
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        """End the span once and hand it to the span processor."""
        if self._end_time is not None:
            return
        self._end_time = end_time or time.time_ns()
        tracer = self._tracer
        if tracer.processor is None:
            return
        trace_id, span_id, flags, parent_id, parent_remote = self._ids
        tracer.processor.on_end(
            FinishedSpan(  # type: ignore[arg-type]
                self._name,
                trace_id,
                span_id,
                flags,
                parent_id,
                parent_remote,
                self._kind,
                self._start_time,
                self._end_time,
                self._attributes,
                self._status,
                tuple(self._events) if self._events else (),
                tracer.scope,
                tracer.resource,
            )
        )


class LeanTracer(trace.Tracer):
    """Makes :class:`LeanSpan` objects and samples like the SDK's
    ``ParentBased(TraceIdRatioBased(ratio))``: a caller's decision is followed, a new trace is
    recorded when the low 64 bits of its id fall under ``ratio``.

    Without a processor nothing is recorded, but every span still continues the caller's
    trace (new span id, the caller's trace id and sampled flag): a service that exports
    nothing never breaks a trace for the services around it.
    """

    def __init__(
        self,
        processor: SpanProcessor | None,
        resource: Resource,
        scope: InstrumentationScope,
        sample_ratio: float = 1.0,
    ) -> None:
        self.processor = processor
        self.resource = resource
        self.scope = scope
        self._bound = round(sample_ratio * (1 << 64))

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        """A child of the current span (or of ``context``'s), recording if sampled."""
        parent = _current_span(context).get_span_context()
        return self.start_child(name, parent, kind, attributes, start_time)

    def start_child(
        self,
        name: str,
        parent: SpanContext | None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Any = None,
        start_time: int | None = None,
    ) -> Span:
        """:meth:`start_span` with the parent given (None or an invalid one: a new trace),
        for callers that already hold it: a server span's remote parent. The context lookup
        it skips is four calls of OpenTelemetry's API, on every request."""
        if parent is not None and parent[5]:
            # SpanContext is the tuple (trace id, span id, remote, flags, state, valid), as its
            # type says: one unpacking instead of six property calls, on every span.
            trace_id, parent_id, parent_remote, parent_flags, state, _ = parent
            sampled = parent_flags & _SAMPLED_BIT
            span_id = _random_bits(64) or 1
        else:
            parent = None
            bits = _random_bits(192)  # both ids from one call
            trace_id = (bits >> 64) or 1
            span_id = (bits & _LOW_64) or 1
            sampled = (trace_id & _LOW_64) < self._bound
            state = None
            parent_id = 0
            parent_remote = False
        flags = _SAMPLED if sampled else _NOT_SAMPLED
        # Both ids are in range and not zero, so the tuple is built as SpanContext builds it,
        # without its checks (a Python-level __new__ on every span).
        span_context = _new_tuple(
            SpanContext, (trace_id, span_id, False, flags, state or _NO_STATE, True)
        )
        if not sampled or self.processor is None:
            return NonRecordingSpan(span_context)
        ids = (trace_id, span_id, flags, parent_id, parent_remote)
        return LeanSpan(self, name, span_context, parent, kind, attributes, start_time, ids)

    @_agnosticcontextmanager
    def start_as_current_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Any = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        """As :meth:`start_span`, made current for the ``with`` block."""
        span = self.start_span(name, context, kind, attributes, start_time=start_time)
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class Tracing:
    """A process's tracer provider, its batch span processor, and lean tracers feeding it."""

    def __init__(
        self,
        provider: TracerProvider | None = None,
        processor: SpanProcessor | None = None,
        *,
        enabled: bool = True,
        sample_ratio: float = 1.0,
    ) -> None:
        self.provider = provider
        self.processor = processor
        self.enabled = enabled
        self.sample_ratio = sample_ratio
        self._resource = provider.resource if provider is not None else Resource.get_empty()
        self._tracers: dict[str, LeanTracer] = {}

    @classmethod
    def disabled(cls) -> Tracing:
        """No spans and no propagation (the gateway benchmark's baseline)."""
        return cls(None, enabled=False)

    @classmethod
    def from_settings(
        cls,
        settings: TelemetrySettings,
        *,
        service: str = "strata",
        exporter: SpanExporter | None = None,
    ) -> Tracing:
        """A tracer provider exporting in batches to ``exporter`` (or OTLP when configured).

        Without either, spans are not recorded but trace context still passes through.
        """
        if not settings.enabled:
            return cls.disabled()
        if exporter is None and settings.otlp_endpoint:
            exporter = _otlp_exporter(settings)
        if exporter is None:
            return cls(None, sample_ratio=settings.sample_ratio)
        resource = Resource.create(
            {
                "service.name": settings.service_name or f"strata-{service}",
                "service.namespace": "strata",
            }
        )
        provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)), resource=resource
        )
        processor = LeanBatchProcessor(
            exporter,
            max_queue_size=settings.export_queue_size,
            max_export_batch_size=min(settings.export_batch_size, settings.export_queue_size),
            schedule_delay=settings.export_delay_s,
        )
        provider.add_span_processor(processor)
        return cls(provider, processor, sample_ratio=settings.sample_ratio)

    @property
    def recording(self) -> bool:
        """Whether spans are recorded and exported (not only propagated)."""
        return self.enabled and self.processor is not None

    def tracer(self, name: str) -> trace.Tracer:
        """The lean tracer of one instrumentation scope (``strata.<service>``, ``strata.http``).

        ``provider.get_tracer(...)`` still gives the SDK's own tracer to anything else.
        """
        tracer = self._tracers.get(name)
        if tracer is None:
            tracer = LeanTracer(
                self.processor if self.enabled else None,
                self._resource,
                InstrumentationScope(name),
                self.sample_ratio,
            )
            self._tracers[name] = tracer
        return tracer

    def force_flush(self, timeout_ms: int = 5000) -> bool:
        """Export every finished span now (tests, shutdown)."""
        return self.provider.force_flush(timeout_ms) if self.provider is not None else True

    def shutdown(self) -> None:
        """Flush and stop the exporter; the process's spans end here."""
        if self.provider is not None:
            self.provider.shutdown()


def _otlp_exporter(settings: TelemetrySettings) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:  # an optional dependency: say which package is missing
        raise RuntimeError(
            f"{PREFIX}OTLP_ENDPOINT is set but opentelemetry-exporter-otlp-proto-http is not "
            "installed"
        ) from exc
    return OTLPSpanExporter(
        endpoint=settings.otlp_endpoint,
        headers=dict(settings.otlp_headers),
        timeout=settings.otlp_timeout_s,
    )


_process: Tracing | None = None


def process_tracing(service: str = "strata", environ: Mapping[str, str] | None = None) -> Tracing:
    """This process's :class:`Tracing`, built from ``STRATA_TELEMETRY_*`` on first use.

    The first service to ask names the resource; apps built later in the same process (tests,
    the demo) share the provider and tell themselves apart by their tracer's scope name.
    """
    global _process  # one provider per process, by design
    if _process is None:
        settings = load_telemetry_settings(os.environ if environ is None else environ)
        _process = Tracing.from_settings(settings, service=service)
    return _process


def install_tracing(tracing: Tracing | None) -> Tracing | None:
    """Make ``tracing`` this process's (tests, benchmarks); returns the one it replaces."""
    global _process
    previous, _process = _process, tracing
    return previous
