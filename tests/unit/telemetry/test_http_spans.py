"""Server spans from ``build_service_app`` and client spans from ``make_client``."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from litestar import get
from litestar.params import Parameter
from litestar.testing import AsyncTestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.app import build_service_app
from shared.http import HttpClientSettings, make_client
from shared.problems import NotFound
from shared.telemetry.tracing import (
    CORRELATION_ID,
    ServerSpanMiddleware,
    TelemetrySettings,
    TracedTransport,
    Tracing,
    current_traceparent,
    parse_traceparent,
    server_span,
)

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CALLER_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736


def finished(tracing: Tracing, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    assert tracing.force_flush()
    return list(exporter.get_finished_spans())


def catalogue_app(tracing: Tracing) -> Any:
    @get("/catalogue/v1/products/{sku:str}", sync_to_thread=False)
    def product(sku: Annotated[str, Parameter()]) -> dict[str, str | None]:
        if sku == "GONE":
            raise NotFound(f"no product {sku}")
        if sku == "BOOM":
            raise RuntimeError("the ERP adapter broke")
        return {
            "sku": sku,
            "traceparent": current_traceparent(),
            "correlation": CORRELATION_ID.get(),
        }

    return build_service_app(
        service="catalogue",
        title="catalogue",
        version="1.0.0",
        description="a test service",
        route_handlers=[product],
        tracing=tracing,
    )


async def test_one_server_span_per_request_named_by_route_template(
    traced: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    async with AsyncTestClient(catalogue_app(tracing)) as client:
        answer = await client.get(
            "/catalogue/v1/products/TEE-M",
            headers={"traceparent": CALLER, "X-Correlation-Id": "order-1001"},
        )
        assert answer.status_code == 200
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
    (span,) = finished(tracing, exporter)
    assert span.name == "GET /catalogue/v1/products/{sku}"
    assert span.kind == SpanKind.SERVER
    assert span.context.trace_id == CALLER_TRACE
    assert span.parent is not None
    assert span.parent.span_id == 0x00F067AA0BA902B7
    assert span.attributes == {
        "http.request.method": "GET",
        "http.route": "/catalogue/v1/products/{sku}",
        "http.response.status_code": 200,
    }
    inside = parse_traceparent(answer.json()["traceparent"])
    assert inside is not None
    assert inside.span_id == span.context.span_id, "the handler runs inside the server span"
    assert answer.json()["correlation"] == "order-1001"


async def test_errors_carry_their_status_and_server_errors_mark_the_span(
    traced: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    async with AsyncTestClient(catalogue_app(tracing)) as client:
        assert (await client.get("/catalogue/v1/products/GONE")).status_code == 404
        assert (await client.get("/catalogue/v1/products/BOOM")).status_code == 500
    by_status = {
        (s.attributes or {})["http.response.status_code"]: s for s in finished(tracing, exporter)
    }
    assert set(by_status) == {404, 500}
    assert by_status[404].status.status_code == StatusCode.UNSET
    assert by_status[500].status.status_code == StatusCode.ERROR


async def test_authentication_failures_are_inside_the_span(
    traced: tuple[Tracing, InMemorySpanExporter], token_mint: Any
) -> None:
    tracing, exporter = traced

    @get("/catalogue/v1/private", sync_to_thread=False, opt={"required_scopes": {"c:read"}})
    def private() -> str:
        return "secret"

    app = build_service_app(
        service="catalogue",
        title="catalogue",
        version="1.0.0",
        description="a test service",
        route_handlers=[private],
        auth=token_mint.settings(),
        tracing=tracing,
    )
    async with AsyncTestClient(app) as client:
        assert (await client.get("/catalogue/v1/private")).status_code == 401
    (span,) = finished(tracing, exporter)
    assert span.name == "GET /catalogue/v1/private"
    assert (span.attributes or {})["http.response.status_code"] == 401


async def test_disabled_tracing_adds_no_middleware() -> None:
    app = catalogue_app(Tracing.disabled())
    stack = [getattr(m, "middleware", m) for m in app.middleware]
    assert ServerSpanMiddleware not in stack
    async with AsyncTestClient(app) as client:
        answer = await client.get("/catalogue/v1/products/TEE-M", headers={"traceparent": CALLER})
    assert answer.json()["traceparent"] is None


async def test_outbound_calls_get_a_client_span_and_carry_its_traceparent(
    traced: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    seen: list[str | None] = []

    def erp(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("traceparent"))
        return httpx.Response(503 if request.url.path.endswith("/busy") else 200, json={})

    client = httpx.AsyncClient(
        base_url="http://erp.test",
        transport=TracedTransport(httpx.MockTransport(erp), tracing.tracer("strata.http")),
    )
    tracer = tracing.tracer("strata.orders")
    parent = tracer.start_span("orders process")
    with trace.use_span(parent, end_on_exit=True):
        await client.get("/erp/v1/stock/TEE-M")
        await client.post("/erp/v1/busy")
    await client.aclose()
    spans = finished(tracing, exporter)
    calls = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert [s.name for s in calls] == ["GET", "POST"]
    for call, header in zip(calls, seen, strict=True):
        assert call.parent is not None
        assert call.parent.span_id == parent.get_span_context().span_id
        sent = parse_traceparent(header)
        assert sent is not None
        assert sent.span_id == call.context.span_id
        assert sent.trace_id == parent.get_span_context().trace_id
    assert calls[0].attributes == {
        "http.request.method": "GET",
        "server.address": "erp.test",
        "url.path": "/erp/v1/stock/TEE-M",
        "http.response.status_code": 200,
    }
    assert calls[1].status.status_code == StatusCode.ERROR


async def test_a_failed_connection_ends_the_client_span_in_error(
    traced: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(
        transport=TracedTransport(httpx.MockTransport(refuse), tracing.tracer("strata.http"))
    )
    with pytest.raises(httpx.ConnectError):
        await client.get("http://shopify.test/shopify/v1/orders")
    await client.aclose()
    (span,) = finished(tracing, exporter)
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ConnectError"


async def test_make_client_wraps_its_transport_unless_tracing_is_off() -> None:
    tracing = Tracing.from_settings(TelemetrySettings())
    on = make_client("http://erp.test", HttpClientSettings(transport="httpx"), tracing=tracing)
    off = make_client(
        "http://erp.test", HttpClientSettings(transport="httpx"), tracing=Tracing.disabled()
    )
    try:
        assert isinstance(on._transport, TracedTransport)
        assert not isinstance(off._transport, TracedTransport)
    finally:
        await on.aclose()
        await off.aclose()


def test_server_span_serves_paths_that_bypass_the_router(
    traced: tuple[Tracing, InMemorySpanExporter],
) -> None:
    tracing, exporter = traced
    headers = [(b"content-type", b"application/json"), (b"traceparent", CALLER.encode())]
    with server_span(
        tracing.tracer("strata.shopify"), "POST /shopify/v1/webhooks", headers
    ) as span:
        inside = parse_traceparent(current_traceparent())
        span.set_attribute("http.response.status_code", 200)
    (done,) = finished(tracing, exporter)
    assert inside is not None
    assert inside.span_id == done.context.span_id
    assert done.context.trace_id == CALLER_TRACE
    assert done.kind == SpanKind.SERVER
    assert (done.attributes or {})["http.response.status_code"] == 200
    assert current_traceparent() is None
