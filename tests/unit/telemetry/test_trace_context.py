"""W3C trace context and the lean tracer's sampling, spans and export."""

from __future__ import annotations

import gc
import importlib.util
import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanKind, StatusCode

from shared.telemetry.tracing import (
    FinishedSpan,
    LeanSpan,
    TelemetrySettings,
    Tracing,
    current_traceparent,
    format_traceparent,
    load_telemetry_settings,
    parent_context,
    parse_traceparent,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def recording(ratio: float = 1.0) -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    settings = TelemetrySettings(sample_ratio=ratio, service_name="unit")
    return Tracing.from_settings(settings, exporter=exporter), exporter


def exported(tracing: Tracing, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    assert tracing.force_flush()
    return list(exporter.get_finished_spans())


def test_a_valid_traceparent_round_trips() -> None:
    parsed = parse_traceparent(VALID)
    assert parsed is not None
    assert parsed.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert parsed.span_id == 0x00F067AA0BA902B7
    assert parsed.trace_flags.sampled
    assert parsed.is_remote
    assert format_traceparent(parsed) == VALID
    assert parse_traceparent(VALID.encode()) == parsed


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        VALID.upper(),  # W3C: lower-case hex only
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        VALID + "-extra",  # version 00 has exactly four fields
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ],
)
def test_an_invalid_traceparent_is_ignored(value: str | None) -> None:
    assert parse_traceparent(value) is None
    assert parent_context(value) is None


def test_a_later_version_with_more_fields_is_read_as_version_00() -> None:
    parsed = parse_traceparent("01" + VALID[2:] + "-what-comes-next")
    assert parsed is not None
    assert parsed.span_id == 0x00F067AA0BA902B7


def test_spans_continue_the_remote_parent_and_are_exported_in_batches() -> None:
    tracing, exporter = recording()
    tracer = tracing.tracer("strata.unit")
    server = tracer.start_span("GET /x", parent_context(VALID), SpanKind.SERVER, {"a": "b"})
    with trace.use_span(server, end_on_exit=True):
        assert current_traceparent() == format_traceparent(server.get_span_context())
        client = tracer.start_span("GET", kind=SpanKind.CLIENT)
        client.set_attribute("http.response.status_code", 503)
        client.set_status(StatusCode.ERROR, "upstream down")
        client.record_exception(TimeoutError("slow"))
        client.end()
    assert current_traceparent() is None
    spans = {s.name: s for s in exported(tracing, exporter)}
    assert set(spans) == {"GET /x", "GET"}
    assert spans["GET /x"].context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert spans["GET /x"].parent is not None
    assert spans["GET /x"].parent.span_id == 0x00F067AA0BA902B7
    assert spans["GET"].parent is not None
    assert spans["GET"].parent.span_id == spans["GET /x"].context.span_id
    assert spans["GET"].kind == SpanKind.CLIENT
    assert spans["GET"].attributes == {"http.response.status_code": 503}
    assert spans["GET"].status.status_code == StatusCode.ERROR
    assert spans["GET"].events[0].name == "exception"
    assert spans["GET /x"].resource.attributes["service.name"] == "unit"
    assert spans["GET /x"].instrumentation_scope is not None
    assert spans["GET /x"].instrumentation_scope.name == "strata.unit"
    assert spans["GET /x"].end_time is not None
    assert spans["GET /x"].start_time is not None
    assert spans["GET /x"].end_time >= spans["GET /x"].start_time


def test_an_ended_span_is_exported_once_and_no_longer_changes() -> None:
    tracing, exporter = recording()
    span = tracing.tracer("t").start_span("once")
    assert isinstance(span, LeanSpan)
    span.end()
    span.set_attribute("late", True)
    span.update_name("renamed")
    span.end()
    (only,) = exported(tracing, exporter)
    assert only.name == "once"
    assert "late" not in (only.attributes or {})
    assert not span.is_recording()


def test_queued_spans_are_outside_the_garbage_collector() -> None:
    queued: list[object] = []

    class Capture(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            queued.append(span)

    tracing = Tracing(TracerProvider(), Capture())
    span = tracing.tracer("t").start_span("GET /x", attributes={"http.route": "/x"})
    span.set_attribute("http.response.status_code", 200)
    span.end()
    (record,) = queued
    assert isinstance(record, FinishedSpan)
    assert not gc.is_tracked(record)
    assert not gc.is_tracked(record.attributes)
    readable = record.readable()
    assert readable.attributes == {"http.route": "/x", "http.response.status_code": 200}
    assert readable.context.span_id == span.get_span_context().span_id
    assert readable.parent is None


def test_finished_spans_read_like_the_sdks_for_exporters() -> None:
    tracing, exporter = recording()
    tracer = tracing.tracer("strata.unit")
    span = tracer.start_span("GET /x", parent_context(VALID), SpanKind.SERVER)
    span.record_exception(ValueError("bad"))
    span.end()
    (record,) = exported(tracing, exporter)
    assert isinstance(record, FinishedSpan)
    assert json.loads(record.to_json())["parent_id"] == "0x00f067aa0ba902b7"
    if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.common") is None:
        return
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    (resource_spans,) = encode_spans([record]).resource_spans  # type: ignore[list-item]
    (encoded,) = resource_spans.scope_spans[0].spans
    assert encoded.name == "GET /x"
    assert encoded.trace_id == bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert encoded.parent_span_id == bytes.fromhex("00f067aa0ba902b7")
    assert encoded.events[0].name == "exception"
    assert resource_spans.scope_spans[0].scope.name == "strata.unit"


def test_a_caller_that_did_not_sample_is_followed() -> None:
    tracing, exporter = recording(ratio=1.0)
    unsampled = VALID[:-2] + "00"
    span = tracing.tracer("t").start_span("GET /x", parent_context(unsampled))
    assert isinstance(span, NonRecordingSpan)
    assert span.get_span_context().trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert not span.get_span_context().trace_flags.sampled
    span.end()
    assert exported(tracing, exporter) == []


def test_new_traces_are_sampled_by_ratio_and_sampled_callers_are_always_followed() -> None:
    tracing, _exporter = recording(ratio=0.25)
    tracer = tracing.tracer("t")
    roots = [tracer.start_span("root") for _ in range(4000)]
    recorded = sum(s.is_recording() for s in roots)
    assert 800 < recorded < 1200
    child = tracer.start_span("child", parent_context(VALID))
    assert child.is_recording()


def test_without_an_exporter_nothing_records_but_the_trace_passes_through() -> None:
    tracing = Tracing.from_settings(TelemetrySettings())
    assert tracing.enabled
    assert not tracing.recording
    span = tracing.tracer("t").start_span("GET /x", parent_context(VALID))
    assert not span.is_recording()
    context = span.get_span_context()
    assert context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert context.span_id != 0x00F067AA0BA902B7
    assert context.trace_flags.sampled, "the caller's decision travels on downstream"


def test_settings_come_from_the_environment() -> None:
    settings = load_telemetry_settings(
        {
            "STRATA_TELEMETRY_SERVICE_NAME": "orders-eu",
            "STRATA_TELEMETRY_SAMPLE_RATIO": "0.1",
            "STRATA_TELEMETRY_OTLP_ENDPOINT": "http://collector:4318/v1/traces",
            "STRATA_TELEMETRY_OTLP_HEADERS": '{"x-tenant": "retail"}',
            "STRATA_TELEMETRY_ENABLED": "true",
        }
    )
    assert settings.service_name == "orders-eu"
    assert settings.sample_ratio == 0.1
    assert settings.otlp_headers == {"x-tenant": "retail"}
    assert load_telemetry_settings({}).otlp_endpoint is None, "no export unless configured"
    with pytest.raises(ValueError, match="SAMPLE_RATIO"):
        load_telemetry_settings({"STRATA_TELEMETRY_SAMPLE_RATIO": "2"})


def test_an_otlp_endpoint_makes_an_otlp_exporter() -> None:
    settings = TelemetrySettings(otlp_endpoint="http://127.0.0.1:9/v1/traces", otlp_timeout_s=0.2)
    if importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is None:
        # An optional dependency: without it, start-up says which package is missing.
        with pytest.raises(RuntimeError, match="opentelemetry-exporter-otlp-proto-http"):
            Tracing.from_settings(settings)
        return
    tracing = Tracing.from_settings(settings)
    try:
        assert tracing.recording
        exporter = tracing.processor.exporter  # type: ignore[union-attr]
        assert type(exporter).__name__ == "OTLPSpanExporter"
    finally:
        tracing.shutdown()


def test_disabled_tracing_has_no_tracer_work() -> None:
    tracing = Tracing.from_settings(TelemetrySettings(enabled=False))
    assert not tracing.enabled
    assert not tracing.recording
