"""The fulfillment follower and sender over a real Redis, against a stand-in of the Shopify
system API and the ERP's change feed (``httpx.MockTransport``): what is sent, under which
key, and what is kept, through lost answers, refusals, tracking changes and cancels."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest
from redis.asyncio import Redis

from process_apis.orders.exceptions import ExceptionStore
from process_apis.orders.fulfillment.feed import PENDING_KEY, ShipmentFollower
from process_apis.orders.fulfillment.records import FulfillmentRecords, shipment_key
from process_apis.orders.fulfillment.sender import FulfillmentSender
from process_apis.orders.fulfillment.settings import FulfillmentSettings
from process_apis.orders.pipeline import PipelineStore
from shared.events import Entry, PermanentFailure, TransientFailure
from shared.models import Shipment, ShipmentChanges, ShipmentLine, ShipmentPackage
from shared.sibling import NO_RETRIES, SiblingClient
from shared.streams import (
    SHIPMENTS_STREAM,
    ShipmentChange,
    decode_shipment_change,
    encode_shipment_change,
)

SHOP = "unit.myshopify.com"
LOCATION = 61_000


class FakeShopify:
    """The Shopify system API's fulfillment routes, as far as the sender uses them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None, Any]] = []
        self.made: dict[str, int] = {}
        self.lose_next = 0
        self.refuse_next = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, request.url.path, key, body))
        path = request.url.path
        if path.endswith("/fulfillment-orders"):
            return httpx.Response(
                200,
                json={
                    "order_id": 1,
                    "fulfillment_status": "UNFULFILLED",
                    "items": [
                        {
                            "id": 7,
                            "status": "OPEN",
                            "location_id": LOCATION,
                            "lines": [
                                {
                                    "id": 71,
                                    "line_item_id": 171,
                                    "sku": "TOTE",
                                    "total_quantity": 2,
                                    "remaining_quantity": 2,
                                },
                            ],
                        }
                    ],
                },
            )
        if path.endswith("/fulfillments") and request.method == "POST":
            if self.refuse_next:
                self.refuse_next -= 1
                return httpx.Response(
                    422,
                    json={
                        "type": "x",
                        "title": "Shopify refused",
                        "status": 422,
                        "detail": "Fulfillment order is closed",
                    },
                    headers={"Content-Type": "application/problem+json"},
                )
            assert key is not None
            created = key not in self.made
            fid = self.made.setdefault(key, 5_000 + len(self.made))
            if self.lose_next:
                self.lose_next -= 1
                raise httpx.ReadTimeout("answer lost", request=request)
            return httpx.Response(
                201 if created else 200, json={"id": fid, "name": "#1.1", "status": "SUCCESS"}
            )
        return httpx.Response(200, json={"id": 5_000, "name": "#1.1", "status": "SUCCESS"})

    def sends(self) -> list[tuple[str | None, Any]]:
        return [
            (key, body)
            for method, path, key, body in self.calls
            if method == "POST" and path.endswith("/fulfillments")
        ]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def shopify() -> FakeShopify:
    return FakeShopify()


@pytest.fixture
def sender(redis: Redis, shopify: FakeShopify) -> FulfillmentSender:
    http = httpx.AsyncClient(
        base_url="http://shopify", transport=httpx.MockTransport(shopify.handler)
    )
    prefix = f"test:{uuid.uuid4().hex[:8]}"
    return FulfillmentSender(
        redis,
        SiblingClient("shopify", http, retry=NO_RETRIES),
        FulfillmentSettings(),
        records=FulfillmentRecords(redis, prefix),
        pipeline=PipelineStore(redis, prefix),
        exceptions=ExceptionStore(redis, prefix + ":exceptions"),
        prefix=prefix,
    )


def a_shipment(number: str = "JD1", state: str = "done") -> Shipment:
    return Shipment(
        id=uuid.uuid4().hex[:10],
        number="CS1",
        state=state,
        carrier="DHL",
        lines=[ShipmentLine(sku="TOTE", quantity=Decimal(2))],
        packages=[ShipmentPackage(id="p1", tracking_number=number)],
        external_reference=f"shopify:{SHOP}:1",
        updated_at=dt.datetime.now(dt.UTC),
    )


def entry_of(shipment: Shipment, change: str = "shipped") -> Entry:
    fields = encode_shipment_change(
        ShipmentChange(
            erp_instance="eu",
            shop=SHOP,
            order_id="1",
            shipment_id=shipment.id,
            change=change,
            body=msgspec.json.encode(shipment).decode(),
            seen_at="1700000000.0",
        )
    )
    return Entry(id="1-0", fields=fields, attempt=1, history=[])


async def test_a_shipment_is_sent_once_with_its_tracking_and_recorded(
    sender: FulfillmentSender, shopify: FakeShopify
) -> None:
    shipment = a_shipment()
    await sender.handle(entry_of(shipment))
    [(key, body)] = shopify.sends()
    assert key == f"eu:shipment:{shipment.id}:order:1:{LOCATION}"
    assert body["fulfillment_orders"] == [
        {"fulfillment_order_id": 7, "lines": [{"fulfillment_order_line_id": 71, "quantity": 2}]}
    ]
    assert body["tracking"] == {"company": "DHL Express", "numbers": ["JD1"], "urls": []}
    assert body["notify_customer"] is True
    record = await sender.records.get(SHOP, "1", shipment_key("eu", shipment.id))
    assert record is not None
    assert (record.state, record.fulfillment_id) == ("fulfilled", 5_000)
    status = await sender.pipeline.status(SHOP, "1")
    assert status is not None
    assert status.steps[-1].step == "fulfilled"

    # The same change again (a redelivery): nothing is sent.
    await sender.handle(entry_of(shipment))
    assert len(shopify.sends()) == 1


async def test_a_lost_answer_is_retried_with_the_same_key_and_body(
    sender: FulfillmentSender, shopify: FakeShopify
) -> None:
    shipment = a_shipment()
    shopify.lose_next = 1
    with pytest.raises(TransientFailure):
        await sender.handle(entry_of(shipment))
    await sender.handle(entry_of(shipment))
    first, second = shopify.sends()
    assert first == second
    assert len(shopify.made) == 1


async def test_a_refusal_goes_to_the_dead_letters_and_the_record_says_failed(
    sender: FulfillmentSender, shopify: FakeShopify
) -> None:
    shipment = a_shipment()
    shopify.refuse_next = 1
    entry = entry_of(shipment)
    with pytest.raises(PermanentFailure) as refused:
        await sender.handle(entry)
    assert "closed" in refused.value.reason
    # Nothing was made: the plan is gone, so a replay plans again from Shopify's state.
    change = decode_shipment_change(entry.payload)
    assert await sender.redis.get(sender.plan_key(change)) is None
    await sender.on_dead_letter(entry, refused.value.reason, refused.value.kind)
    [exception], _ = await sender.exceptions.page(
        state="open", shop=SHOP, kind=None, offset=0, limit=10
    )
    assert exception.topic == "erp/shipment"
    assert exception.kind == "fulfillment-refused"


async def test_a_tracking_correction_then_a_cancel(
    sender: FulfillmentSender, shopify: FakeShopify
) -> None:
    shipment = a_shipment("JD1")
    await sender.handle(entry_of(shipment))
    corrected = msgspec.structs.replace(
        shipment, packages=[ShipmentPackage(id="p1", tracking_number="JD2")]
    )
    await sender.handle(entry_of(corrected))
    [update] = [c for c in shopify.calls if c[1].endswith("/tracking")]
    assert update[3]["tracking"]["numbers"] == ["JD2"]
    assert update[2] is not None
    assert update[2].startswith(f"eu:shipment:{shipment.id}:")
    assert len(shopify.sends()) == 1

    await sender.handle(
        entry_of(msgspec.structs.replace(corrected, state="cancelled"), "cancelled")
    )
    [cancel] = [c for c in shopify.calls if c[1].endswith("/cancel")]
    assert cancel[1].endswith("/fulfillments/5000/cancel")
    record = await sender.records.get(SHOP, "1", shipment_key("eu", shipment.id))
    assert record is not None
    assert record.state == "cancelled"


async def test_the_follower_offers_each_content_once(redis: Redis) -> None:
    shipment = a_shipment()
    pages: list[list[Shipment]] = [[shipment], [shipment]]

    def feed(request: httpx.Request) -> httpx.Response:
        items = pages.pop(0) if pages else []
        return httpx.Response(200, content=msgspec.json.encode(ShipmentChanges(items=items)))

    erp = SiblingClient(
        "erp eu",
        httpx.AsyncClient(base_url="http://erp", transport=httpx.MockTransport(feed)),
        retry=NO_RETRIES,
    )
    follower = ShipmentFollower(
        redis, {"eu": erp}, FulfillmentSettings(), prefix=f"test:{uuid.uuid4().hex[:8]}"
    )
    before = await redis.xlen(SHIPMENTS_STREAM)
    assert await follower.poll("eu") == 1
    assert await follower.poll("eu") == 0  # seen again in the overlap: not offered
    assert await redis.xlen(SHIPMENTS_STREAM) == before + 1
    assert await redis.zscore(PENDING_KEY, f"eu:{shipment.id}:{SHOP}:1") is not None
    # A channel order's shipment, or a return, is passed over.
    channel = msgspec.structs.replace(
        shipment, id=uuid.uuid4().hex[:10], external_reference="pos:store-1:9"
    )
    assert await follower.offer("eu", channel) == 0
    returned = msgspec.structs.replace(shipment, id=uuid.uuid4().hex[:10], is_return=True)
    assert await follower.offer("eu", returned) == 0
