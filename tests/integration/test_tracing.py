"""One order, one trace: webhook ingress -> Redis Stream -> orders worker -> ERP system API ->
Shopify acknowledgement, across real HTTP servers and a real Redis, spans in memory.

Every service runs in this process on its own uvicorn server (its own event loop and port)
and shares the test's tracer provider, which exports to an in-memory exporter.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any

import httpx
import pytest
from litestar import post
from litestar.params import JSONBody, Parameter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from process_apis.orders.app import create_app as create_orders_app
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.settings import OrdersSettings
from shared.app import build_service_app
from shared.telemetry.tracing import TelemetrySettings, Tracing, install_tracing
from system_apis.erp.app import create_app as create_erp_app
from system_apis.erp.settings import ErpSettings
from system_apis.shopify.app import create_app as create_shopify_app
from tests.support.tokens import TokenMint
from tests.unit.erp.fake_port import InMemoryErp
from tests.unit.service_desk.stand_ins import serving
from tests.unit.shopify.deliveries import SHOP, headers, order_body, settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CALLER_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CALLER_SPAN = 0x00F067AA0BA902B7


@pytest.fixture
def spans() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    """This process's tracing, exporting in batches to memory, for the test's duration."""
    exporter = InMemorySpanExporter()
    tracing = Tracing.from_settings(
        TelemetrySettings(export_delay_s=0.2), service="trace-test", exporter=exporter
    )
    previous = install_tracing(tracing)
    try:
        yield tracing, exporter
    finally:
        install_tracing(previous)
        tracing.shutdown()


def acknowledgement_stand_in() -> Any:
    """The two Shopify system API routes the acknowledgement calls, with server spans."""
    tagged: list[str] = []

    @post("/shopify/v1/shops/{shop:str}/orders/{order_id:str}/tags", status_code=200)
    async def tags(
        shop: Annotated[str, Parameter()],
        order_id: Annotated[str, Parameter()],
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        tagged.extend(data["tags"])
        return {"tags": data["tags"]}

    @post("/shopify/v1/shops/{shop:str}/orders/{order_id:str}/metafields", status_code=200)
    async def metafields(
        shop: Annotated[str, Parameter()],
        order_id: Annotated[str, Parameter()],
        data: JSONBody[dict[str, Any]],
    ) -> dict[str, Any]:
        return data

    return build_service_app(
        service="shopify-ack",
        title="Shopify acknowledgement stand-in",
        version="1.0.0",
        description="tags and metafields",
        route_handlers=[tags, metafields],
    )


async def wait_acknowledged(redis_url: str, order_id: str, timeout: float = 30.0) -> None:
    redis = Redis.from_url(redis_url)
    try:
        store = PipelineStore(redis)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (await store.summary(SHOP, order_id)).get("state") == "acknowledged":
                return
            await asyncio.sleep(0.05)
        status = await store.status(SHOP, order_id)
        raise AssertionError(f"order {order_id} not acknowledged: {status}")
    finally:
        await redis.aclose()


def one(spans: list[ReadableSpan], kind: SpanKind, name: str, **attributes: Any) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.kind == kind
        and s.name == name
        and all((s.attributes or {}).get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, (name, attributes, [(s.kind, s.name, s.attributes) for s in spans])
    return found[0]


def parent_of(span: ReadableSpan) -> int:
    assert span.parent is not None, f"{span.name} has no parent"
    return span.parent.span_id


async def test_one_order_is_one_trace_from_webhook_to_acknowledgement(
    spans: tuple[Tracing, InMemorySpanExporter], redis_url: str, token_mint: TokenMint
) -> None:
    tracing, exporter = spans
    run = uuid.uuid4().hex[:10]
    prefix = f"trace:{run}:webhooks"
    order_id = int(time.time() * 1000) % 10**12
    erp = InMemoryErp({f"STR-TEE-{n}": Decimal("24.90") for n in range(3)})
    erp_app = create_erp_app(
        ErpSettings(instance=f"t{run[:8]}", redis_url=redis_url),
        port=erp,
        auth=token_mint.settings(),
    )
    shopify_app = create_shopify_app(settings(prefix, redis_url=redis_url))
    with (
        serving(erp_app) as erp_url,
        serving(acknowledgement_stand_in()) as ack_url,
        serving(shopify_app) as shopify_url,
    ):
        orders_app = create_orders_app(
            OrdersSettings(
                redis_url=redis_url,
                erp_instances={"eu": erp_url},
                shopify_api_url=ack_url,
                stream_prefix=prefix,
                consumer_group=f"orders-{run}",
                service_token=token_mint.token("erp:read", "erp:write", client_id="orders"),
            ),
            auth=token_mint.settings(),
        )
        with serving(orders_app):
            body = order_body(order_id)
            caller = f"00-{CALLER_TRACE:032x}-{CALLER_SPAN:016x}-01"
            async with httpx.AsyncClient(base_url=shopify_url, timeout=10) as client:
                answer = await client.post(
                    "/shopify/v1/webhooks",
                    content=body,
                    headers=headers(body, event_id=f"ev-{run}", traceparent=caller),
                )
            assert answer.status_code == 200, answer.text
            await wait_acknowledged(redis_url, str(order_id))
            assert erp.create_calls == 1
    assert tracing.force_flush()
    finished = list(exporter.get_finished_spans())
    trace = [s for s in finished if s.context.trace_id == CALLER_TRACE]

    consumer = one(trace, SpanKind.CONSUMER, f"{prefix}:{{orders}} process")
    post_order = one(trace, SpanKind.CLIENT, "POST", **{"url.path": "/erp/v1/sales-orders"})
    erp_server = one(trace, SpanKind.SERVER, "POST /erp/v1/sales-orders")
    tag_path = f"/shopify/v1/shops/{SHOP}/orders/{order_id}/tags"
    tag_call = one(trace, SpanKind.CLIENT, "POST", **{"url.path": tag_path})
    tag_server = one(trace, SpanKind.SERVER, "POST /shopify/v1/shops/{shop}/orders/{order_id}/tags")

    # The ingress's own server span (its webhook route bypasses the router, and makes the
    # span itself) is the caller's child, and the stream entry carries it: the consumer
    # hangs off the delivery, with the queue wait between them.
    webhook = one(trace, SpanKind.SERVER, "POST /shopify/v1/webhooks")
    assert parent_of(webhook) == CALLER_SPAN
    assert webhook.attributes is not None
    assert webhook.attributes["http.response.status_code"] == 200
    assert parent_of(consumer) == webhook.context.span_id
    assert consumer.attributes is not None
    assert consumer.attributes["messaging.destination.name"] == f"{prefix}:{{orders}}"
    assert consumer.status.is_ok
    # The worker's Redis work is in the trace too: acknowledging the entry is the consumer's.
    xack = one(trace, SpanKind.CLIENT, "XACK")
    assert parent_of(xack) == consumer.context.span_id
    assert xack.attributes is not None
    assert xack.attributes["db.system.name"] == "redis"
    assert parent_of(post_order) == consumer.context.span_id
    assert parent_of(erp_server) == post_order.context.span_id
    assert erp_server.attributes is not None
    assert erp_server.attributes["http.response.status_code"] == 201
    assert parent_of(tag_call) == consumer.context.span_id
    assert parent_of(tag_server) == tag_call.context.span_id
    assert post_order.end_time is not None
    assert tag_call.start_time is not None
    assert post_order.end_time <= tag_call.start_time, "posted before acknowledged"
    # Nothing of this order's work escaped into another trace.
    order_path = f"/shopify/v1/shops/{SHOP}/orders/{order_id}"
    strays = [
        s
        for s in finished
        if s.context.trace_id != CALLER_TRACE
        and str((s.attributes or {}).get("url.path", "")).startswith(order_path)
    ]
    assert not strays
