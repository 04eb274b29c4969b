"""Fulfillments Shopify tells of (``fulfillments/*``, ``orders/fulfilled``,
``orders/partially_fulfilled``), handled by the orders service against real Redis: records,
pipeline steps, the order's fulfillment status, and the pipeline status that shows them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from process_apis.orders.app import create_app
from process_apis.orders.fulfillment.records import (
    FulfillmentLine,
    FulfillmentRecord,
    FulfillmentRecords,
    FulfillmentTracking,
    shipment_key,
    shopify_key,
)
from process_apis.orders.fulfillment.settings import FulfillmentSettings
from process_apis.orders.locks import RedisOrderLocks
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.service import OrdersService
from process_apis.orders.settings import OrdersSettings
from sandbox.shopify import OrderDraft, OrderLineDraft, SandboxSettings, ShopifySandbox
from sandbox.shopify.fulfillments import (
    AdminFulfillment,
    AdminFulfillmentLine,
    AdminTracking,
    cancel_fulfillment,
    fulfil_in_admin,
)
from shared.events import PermanentFailure, TransientFailure
from tests.support.tokens import TokenMint
from tests.unit.orders.fakes import (
    FakeAcknowledgements,
    FakeCustomerIndex,
    FakeErp,
    FakeExceptions,
    FakeOrderStream,
    FakeShopify,
)
from tests.unit.orders.test_service import ORDER, ORDER_ID, SHOP, webhook

FULFILLMENT_ID = 5501
SANDBOX_SHOP = "demo-eu.myshopify.com"


def fulfillment(
    fid: int = FULFILLMENT_ID,
    *,
    status: str = "success",
    shipment_status: str | None = None,
    updated_at: str = "2026-11-21T10:00:00+00:00",
    **changes: Any,
) -> dict[str, Any]:
    """A REST Fulfillment as Shopify sends it in ``fulfillments/*`` (two parcels)."""
    return {
        "id": fid,
        "order_id": int(ORDER_ID),
        "name": "#1001.1",
        "status": status,
        "shipment_status": shipment_status,
        "service": "manual",
        "tracking_company": "UPS",
        "tracking_number": "1Z1",
        "tracking_numbers": ["1Z1", "1Z2"],
        "tracking_url": "https://ups.example/1Z1",
        "tracking_urls": ["https://ups.example/1Z1", "https://ups.example/1Z2"],
        "line_items": [{"id": 11, "sku": "TSHIRT-BLK-M", "quantity": 2, "title": "Tee"}],
        "created_at": "2026-11-21T09:00:00+00:00",
        "updated_at": updated_at,
        **changes,
    }


def order_webhook_body(
    status: str | None, updated_at: str, *fulfillments: dict[str, Any]
) -> dict[str, Any]:
    return {
        **ORDER,
        "fulfillment_status": status,
        "updated_at": updated_at,
        "fulfillments": list(fulfillments),
    }


@dataclass
class Parts:
    service: OrdersService
    pipeline: PipelineStore
    records: FulfillmentRecords

    async def steps(self) -> list[tuple[str, str | None]]:
        status = await self.pipeline.status(SHOP, ORDER_ID)
        assert status is not None
        return [(s.step, s.detail) for s in status.steps]

    async def send(self, topic: str, body: dict[str, Any]) -> None:
        await self.service.handle(webhook(topic, body))


def build(redis: Redis, prefix: str, *, records: bool = True) -> Parts:
    pipeline = PipelineStore(redis, prefix)
    store = FulfillmentRecords(redis, prefix)
    service = OrdersService(
        OrdersSettings(),
        pipeline=pipeline,
        exceptions=FakeExceptions(),
        locks=RedisOrderLocks(redis, ttl=30, prefix=prefix),
        acknowledgements=FakeAcknowledgements(),
        customers=FakeCustomerIndex(),
        stream=FakeOrderStream(),
        erps={"eu": FakeErp("eu")},
        shopify=FakeShopify(),
        fulfillments=store if records else None,
    )
    return Parts(service, pipeline, store)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def parts(redis: Redis) -> Parts:
    built = build(redis, f"test:{uuid.uuid4().hex[:10]}:orders")
    await built.pipeline.record(
        SHOP, ORDER_ID, "acknowledged", state="acknowledged", erp_instance="eu"
    )
    return built


async def test_a_fulfillment_made_in_shopify_is_recorded_without_moving_the_pipeline(
    parts: Parts,
) -> None:
    await parts.send("fulfillments/create", fulfillment())

    [record] = await parts.records.list(SHOP, ORDER_ID)
    assert record.key == shopify_key(FULFILLMENT_ID)
    assert (record.source, record.state, record.fulfillment_id) == ("shopify", "fulfilled", 5501)
    assert (record.name, record.display_status, record.carrier) == ("#1001.1", "FULFILLED", "UPS")
    assert [(t.number, t.url) for t in record.tracking] == [
        ("1Z1", "https://ups.example/1Z1"),
        ("1Z2", "https://ups.example/1Z2"),
    ]
    assert record.lines == [FulfillmentLine(sku="TSHIRT-BLK-M", quantity=2, line_item_id=11)]
    assert record.shipped_at == record.fulfilled_at == 1_795_251_600.0  # 2026-11-21T09:00Z
    assert record.delivered_at is None
    assert (await parts.steps())[-1] == (
        "fulfilled_in_shopify",
        "#1001.1: UPS 1Z1, 1Z2 (made in Shopify)",
    )
    summary = await parts.pipeline.summary(SHOP, ORDER_ID)
    assert summary["state"] == "acknowledged"


async def test_a_repeated_webhook_records_nothing_more(parts: Parts) -> None:
    await parts.send("fulfillments/create", fulfillment())
    await parts.send("fulfillments/create", fulfillment())
    # orders/fulfilled carries the same fulfillment: already recorded.
    await parts.send(
        "orders/fulfilled", order_webhook_body("fulfilled", "2026-11-21T10:00:01Z", fulfillment())
    )
    assert [step for step, _ in await parts.steps()] == [
        "acknowledged",
        "fulfilled_in_shopify",
        "fulfillment_status",
    ]
    assert len(await parts.records.list(SHOP, ORDER_ID)) == 1


async def test_a_webhook_for_a_fulfillment_a_shipment_claims_leaves_one_fulfillment(
    parts: Parts,
) -> None:
    # The sender made fulfillment 5501 of ERP shipment SH-7 and recorded it.
    await parts.records.put(
        SHOP,
        ORDER_ID,
        FulfillmentRecord(
            key=shipment_key("eu", "7"),
            source="erp",
            state="fulfilled",
            fulfillment_id=FULFILLMENT_ID,
            erp_instance="eu",
            shipment_id="7",
            shipment_number="SH-7",
            carrier="UPS",
            tracking=[FulfillmentTracking(number="1Z1", url="https://ups.example/1Z1")],
            lines=[FulfillmentLine(sku="TSHIRT-BLK-M", quantity=2)],
            shipped_at=1_795_250_000.0,
            fulfilled_at=1_795_251_600.0,
        ),
    )
    await parts.send(
        "fulfillments/update",
        fulfillment(shipment_status="delivered", updated_at="2026-11-23T08:00:00Z"),
    )

    [merged] = await parts.records.list(SHOP, ORDER_ID)
    assert merged.key == shipment_key("eu", "7")
    assert (merged.state, merged.display_status) == ("fulfilled", "DELIVERED")
    assert merged.delivered_at == 1_795_420_800.0  # 2026-11-23T08:00Z
    assert [t.number for t in merged.tracking] == ["1Z1", "1Z2"]
    assert (await parts.steps())[-1] == ("delivered", "#1001.1: UPS 1Z1, 1Z2 (shipment eu:SH-7)")

    status = await parts.pipeline.status(SHOP, ORDER_ID)
    assert status is not None
    [view] = status.fulfillments
    assert (view.source, view.shipment_number, view.fulfillment_id) == ("erp", "SH-7", 5501)
    assert view.delivered_at == 1_795_420_800.0
    # No order webhook yet: read from the records.
    assert status.fulfillment_status == "fulfilled"


async def test_a_late_older_webhook_does_not_undo_a_cancellation(parts: Parts) -> None:
    await parts.send(
        "fulfillments/update", fulfillment(status="cancelled", updated_at="2026-11-21T11:00:00Z")
    )
    await parts.send("fulfillments/create", fulfillment(updated_at="2026-11-21T10:00:00Z"))

    record = await parts.records.get(SHOP, ORDER_ID, shopify_key(FULFILLMENT_ID))
    assert record is not None
    assert (record.state, record.display_status) == ("cancelled", "CANCELED")
    assert [s for s, _ in await parts.steps()] == [
        "acknowledged",
        "fulfillment_cancelled_in_shopify",
    ]


async def test_tracking_corrected_in_shopify_is_an_update(parts: Parts) -> None:
    await parts.send("fulfillments/create", fulfillment())
    await parts.send(
        "fulfillments/update",
        fulfillment(
            shipment_status="in_transit",
            tracking_company="DHL",
            tracking_numbers=["JD9"],
            tracking_urls=[],
            tracking_number="JD9",
            tracking_url=None,
            updated_at="2026-11-21T12:00:00Z",
        ),
    )
    record = await parts.records.get(SHOP, ORDER_ID, shopify_key(FULFILLMENT_ID))
    assert record is not None
    assert (record.carrier, [(t.number, t.url) for t in record.tracking]) == (
        "DHL",
        [("JD9", None)],
    )
    assert (await parts.steps())[-1] == (
        "fulfillment_updated_in_shopify",
        "#1001.1 in_transit: DHL JD9 (made in Shopify)",
    )


async def test_order_webhooks_set_the_fulfillment_status_newest_first(parts: Parts) -> None:
    first = fulfillment(line_items=[{"id": 11, "sku": "TSHIRT-BLK-M", "quantity": 1}])
    await parts.send(
        "orders/partially_fulfilled", order_webhook_body("partial", "2026-11-21T10:00:00Z", first)
    )
    second = fulfillment(5502, name="#1001.2", updated_at="2026-11-22T10:00:00Z")
    await parts.send(
        "orders/fulfilled", order_webhook_body("fulfilled", "2026-11-22T10:00:00Z", first, second)
    )
    # A redelivery of the older one, late: the order stays fulfilled.
    await parts.send(
        "orders/partially_fulfilled", order_webhook_body("partial", "2026-11-21T10:00:00Z", first)
    )

    summary = await parts.pipeline.summary(SHOP, ORDER_ID)
    assert (summary["state"], summary["fulfillment_status"]) == ("acknowledged", "fulfilled")
    steps = await parts.steps()
    assert [s for s in steps if s[0] == "fulfillment_status"] == [
        ("fulfillment_status", "partially_fulfilled (orders/partially_fulfilled)"),
        ("fulfillment_status", "fulfilled (orders/fulfilled)"),
    ]
    # The order's embedded fulfillments are recorded too (a shop without fulfillments/*).
    status = await parts.pipeline.status(SHOP, ORDER_ID)
    assert status is not None
    assert status.fulfillment_status == "fulfilled"
    assert [f.name for f in status.fulfillments] == ["#1001.1", "#1001.2"]


async def test_a_cancelled_fulfillment_takes_the_order_back_from_fulfilled(parts: Parts) -> None:
    await parts.send(
        "orders/fulfilled", order_webhook_body("fulfilled", "2026-11-21T10:00:00Z", fulfillment())
    )
    await parts.send(
        "fulfillments/update", fulfillment(status="cancelled", updated_at="2026-11-21T12:00:00Z")
    )
    summary = await parts.pipeline.summary(SHOP, ORDER_ID)
    assert summary["fulfillment_status"] == "unfulfilled"
    assert (await parts.steps())[-1] == (
        "fulfillment_cancelled_in_shopify",
        "#1001.1 (made in Shopify)",
    )


async def test_a_fulfillment_webhook_without_its_order_is_malformed(parts: Parts) -> None:
    with pytest.raises(PermanentFailure) as raised:
        await parts.send("fulfillments/create", fulfillment(order_id=None))
    assert raised.value.kind == "malformed"
    with pytest.raises(PermanentFailure, match="not a Shopify fulfillment"):
        await parts.send("fulfillments/create", fulfillment(line_items="none"))
    assert await parts.records.list(SHOP, ORDER_ID) == []


async def test_without_records_the_steps_and_status_are_still_kept(redis: Redis) -> None:
    parts = build(redis, f"test:{uuid.uuid4().hex[:10]}:orders", records=False)
    await parts.send(
        "orders/fulfilled", order_webhook_body("fulfilled", "2026-11-21T10:00:00Z", fulfillment())
    )
    assert [s for s, _ in await parts.steps()] == ["fulfilled_in_shopify", "fulfillment_status"]
    assert await parts.records.list(SHOP, ORDER_ID) == []


async def test_the_status_route_shows_fulfillments_and_the_fulfillment_status(
    redis_url: str, redis: Redis, token_mint: TokenMint
) -> None:
    order_id = str(uuid.uuid4().int % 10**15)
    pipeline = PipelineStore(redis)
    await pipeline.record(SHOP, order_id, "acknowledged", state="acknowledged")
    await pipeline.record(
        SHOP, order_id, "fulfillment_status", fulfillment_status="partially_fulfilled"
    )
    records = FulfillmentRecords(redis)
    await records.put(
        SHOP,
        order_id,
        FulfillmentRecord(
            key=shipment_key("eu", "8"),
            source="erp",
            state="pending",
            erp_instance="eu",
            shipment_id="8",
            shipment_number="SH-8",
            carrier="DHL",
            tracking=[FulfillmentTracking(number="JD1", url="https://dhl.example/JD1")],
            lines=[FulfillmentLine(sku="MUG-WHT", quantity=1)],
            shipped_at=1_795_250_000.0,
        ),
    )
    settings = OrdersSettings(
        redis_url=redis_url,
        erp_instances={"eu": "http://erp.invalid"},
        shopify_api_url="http://shopify.invalid",
        run_workers=False,
        service_token="unused",
    )
    app = create_app(settings, auth=token_mint.settings())
    async with AsyncTestClient(app=app) as client:
        response = await client.get(
            f"/orders/v1/orders/{SHOP}/{order_id}", headers=token_mint.headers("orders:read")
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "acknowledged"
    assert body["fulfillment_status"] == "partially_fulfilled"
    assert body["fulfillments"] == [
        {
            "source": "erp",
            "state": "pending",
            "fulfillment_id": None,
            "name": None,
            "display_status": None,
            "erp_instance": "eu",
            "shipment_id": "8",
            "shipment_number": "SH-8",
            "carrier": "DHL",
            "tracking": [{"number": "JD1", "url": "https://dhl.example/JD1"}],
            "lines": [{"sku": "MUG-WHT", "quantity": 1, "line_item_id": None}],
            "shipped_at": 1_795_250_000.0,
            "fulfilled_at": None,
            "delivered_at": None,
            "error": None,
            "exception_id": None,
        }
    ]
    assert msgspec.json.decode(response.content)["steps"][-1]["step"] == "fulfillment_status"


async def test_the_sandboxs_admin_fulfillments_are_read_as_shopify_sends_them(
    redis: Redis,
) -> None:
    """The bodies the Shopify sandbox sends when a warehouse fulfils in the admin, then
    corrects the tracking and cancels, handled in the order they were sent."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def receive(request: httpx.Request) -> httpx.Response:
        sent.append((request.headers["x-shopify-topic"], msgspec.json.decode(request.content)))
        return httpx.Response(200)

    sandbox = ShopifySandbox(
        SandboxSettings(time_scale=1.0), webhook_transport=httpx.MockTransport(receive)
    )
    for topic in ("fulfillments/create", "fulfillments/update", "orders/fulfilled",
                  "orders/partially_fulfilled"):  # fmt: skip
        sandbox.webhooks.subscribe(SANDBOX_SHOP, topic, "https://ingress.example/webhooks")
    placed = sandbox.create_order(
        SANDBOX_SHOP,
        OrderDraft(
            line_items=[
                OrderLineDraft(sku="STR-TEE-BLK-M", quantity=2),
                OrderLineDraft(sku="STR-HOOD-GRY-M", quantity=1),
            ]
        ),
    )
    shop = sandbox.shop(SANDBOX_SHOP)
    order = shop.orders[placed.id]
    first, events = fulfil_in_admin(
        sandbox.state,
        shop,
        order,
        AdminFulfillment(
            lines=[AdminFulfillmentLine(sku="STR-TEE-BLK-M", quantity=2)],
            tracking=AdminTracking(
                company="UPS", numbers=["1ZA"], urls=["https://ups.example/1ZA"]
            ),
        ),
    )
    sandbox.webhooks.publish(SANDBOX_SHOP, events)
    _, events = fulfil_in_admin(sandbox.state, shop, order, AdminFulfillment())
    sandbox.webhooks.publish(SANDBOX_SHOP, events)
    await sandbox.webhooks.drain()

    parts = build(redis, f"test:{uuid.uuid4().hex[:10]}:orders")
    order_id = str(placed.id)
    await parts.pipeline.record(SANDBOX_SHOP, order_id, "acknowledged", state="acknowledged")
    for topic, body in sent:
        await parts.service.handle(webhook(topic, body, shop=SANDBOX_SHOP))
    status = await parts.pipeline.status(SANDBOX_SHOP, order_id)
    assert status is not None
    assert (status.state, status.fulfillment_status) == ("acknowledged", "fulfilled")
    assert [(f.source, f.state, f.carrier) for f in status.fulfillments] == [
        ("shopify", "fulfilled", "UPS"),
        ("shopify", "fulfilled", None),
    ]
    assert [(x.sku, x.quantity) for x in status.fulfillments[0].lines] == [("STR-TEE-BLK-M", 2)]
    assert [t.url for t in status.fulfillments[0].tracking] == ["https://ups.example/1ZA"]
    assert [s.step for s in status.steps].count("fulfilled_in_shopify") == 2

    sent.clear()
    sandbox.webhooks.publish(
        SANDBOX_SHOP, cancel_fulfillment(sandbox.state, shop, order, order.fulfillments[0])
    )
    await sandbox.webhooks.drain()
    for topic, body in sent:
        await parts.service.handle(webhook(topic, body, shop=SANDBOX_SHOP))
    status = await parts.pipeline.status(SANDBOX_SHOP, order_id)
    assert status is not None
    assert [f.state for f in status.fulfillments] == ["cancelled", "fulfilled"]
    assert status.fulfillment_status == "partially_fulfilled"
    assert first.id == status.fulfillments[0].fulfillment_id


async def test_a_shop_that_says_so_records_a_shopify_fulfillment_in_the_erp_once(
    redis: Redis,
) -> None:
    prefix = f"test:{uuid.uuid4().hex[:10]}:orders"
    pipeline = PipelineStore(redis, prefix)
    store = FulfillmentRecords(redis, prefix)
    erp = FakeErp("eu")
    settings = OrdersSettings(
        fulfillment=FulfillmentSettings(erp_shipments_from_shopify={SHOP: True})
    )
    service = OrdersService(
        settings,
        pipeline=pipeline,
        exceptions=FakeExceptions(),
        locks=RedisOrderLocks(redis, ttl=30, prefix=prefix),
        acknowledgements=FakeAcknowledgements(),
        customers=FakeCustomerIndex(),
        stream=FakeOrderStream(),
        erps={"eu": erp},
        shopify=FakeShopify(),
        fulfillments=store,
    )
    made = Parts(service, pipeline, store)
    # Not posted yet: the shipment can't be recorded, so the webhook waits (nothing kept).
    await pipeline.record(SHOP, ORDER_ID, "received", state="received")
    with pytest.raises(TransientFailure):
        await made.send("fulfillments/create", fulfillment(tracking_company="DHL Express"))
    assert await store.list(SHOP, ORDER_ID) == []

    await pipeline.record(
        SHOP, ORDER_ID, "acknowledged", state="acknowledged", erp_instance="eu", erp_order_id="7"
    )
    await made.send("fulfillments/create", fulfillment(tracking_company="DHL Express"))
    await made.send(
        "fulfillments/update",
        fulfillment(updated_at="2026-11-21T11:00:00+00:00", tracking_company="DHL Express"),
    )
    [(reference, shipment)] = erp.recorded_shipments.items()
    assert reference == f"shopify:{SHOP}:fulfillment:{FULFILLMENT_ID}"
    assert shipment.order_id == "7"
    assert [(line.sku, line.quantity) for line in shipment.lines] == [("TSHIRT-BLK-M", Decimal(2))]
    [record] = await store.list(SHOP, ORDER_ID)
    assert record.shipment_id == shipment.id


async def test_by_default_a_shopify_fulfillment_is_not_recorded_in_the_erp(parts: Parts) -> None:
    await parts.send("fulfillments/create", fulfillment())
    erps: Any = parts.service.erps
    assert erps["eu"].recorded_shipments == {}
