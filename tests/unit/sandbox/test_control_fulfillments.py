"""The sandbox's control routes for fulfilling as a merchant or a third-party warehouse would in
Shopify's admin: the same rules and webhooks as ``fulfillmentCreate``, tracking corrections
and cancellations."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from sandbox.shopify import OrderDraft, OrderLineDraft, SandboxSettings, ShopifySandbox
from sandbox.shopify.app import create_app
from tests.unit.sandbox.conftest import SHOP

HOOK = "https://ingress.example/webhooks"
TOPICS = (
    "fulfillments/create",
    "fulfillments/update",
    "orders/fulfilled",
    "orders/partially_fulfilled",
)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)

    def received(self) -> list[tuple[str, dict[str, Any]]]:
        return [(r.headers["x-shopify-topic"], json.loads(r.content)) for r in self.requests]


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def sandbox(receiver: Receiver) -> ShopifySandbox:
    sandbox = ShopifySandbox(
        SandboxSettings(time_scale=1.0), webhook_transport=httpx.MockTransport(receiver)
    )
    for topic in TOPICS:
        sandbox.webhooks.subscribe(SHOP, topic, HOOK)
    return sandbox


@pytest.fixture
async def control(sandbox: ShopifySandbox) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app(sandbox=sandbox)) as client:
        yield client


def place(sandbox: ShopifySandbox) -> int:
    draft = OrderDraft(
        line_items=[
            OrderLineDraft(sku="STR-TEE-BLK-M", quantity=2),
            OrderLineDraft(sku="STR-HOOD-GRY-M", quantity=1),
        ]
    )
    return sandbox.create_order(SHOP, draft).id


async def test_a_warehouse_fulfils_in_the_admin_and_subscribers_hear_of_it(
    control: AsyncTestClient[Any], sandbox: ShopifySandbox, receiver: Receiver
) -> None:
    order_id = place(sandbox)
    base = f"/_sandbox/shops/{SHOP}/orders/{order_id}"
    first = await control.post(
        f"{base}/fulfillments",
        json={
            "lines": [{"sku": "STR-TEE-BLK-M", "quantity": 1}],
            "tracking": {
                "company": "La Poste",
                "numbers": ["6A1", "6A2"],
                "urls": ["https://lp.example/6A1", "https://lp.example/6A2"],
            },
        },
    )
    assert first.status_code == 201, first.text
    made = first.json()
    assert (made["order_id"], made["status"], made["tracking_company"]) == (
        order_id,
        "success",
        "La Poste",
    )
    assert made["tracking_numbers"] == ["6A1", "6A2"]
    assert [(x["sku"], x["quantity"]) for x in made["line_items"]] == [("STR-TEE-BLK-M", 1)]

    too_many = await control.post(
        f"{base}/fulfillments", json={"lines": [{"sku": "STR-TEE-BLK-M", "quantity": 2}]}
    )
    assert too_many.status_code == 422
    assert too_many.headers["content-type"].startswith("application/problem+json")
    assert too_many.json()["errors"][0]["field"] == ["lines", "0", "quantity"]

    rest = await control.post(f"{base}/fulfillments")  # no body: everything left
    assert rest.status_code == 201, rest.text
    nothing_left = await control.post(f"{base}/fulfillments", json={})
    assert nothing_left.status_code == 422
    unknown = await control.post(f"/_sandbox/shops/{SHOP}/orders/1/fulfillments", json={})
    assert unknown.status_code == 404

    await sandbox.webhooks.drain()
    got = receiver.received()
    assert [t for t, _ in got] == [
        "fulfillments/create",
        "orders/partially_fulfilled",
        "fulfillments/create",
        "orders/fulfilled",
    ]
    assert got[0][1]["id"] == made["id"]
    assert got[0][1]["tracking_urls"] == ["https://lp.example/6A1", "https://lp.example/6A2"]
    assert got[3][1]["fulfillment_status"] == "fulfilled"
    assert [f["id"] for f in got[3][1]["fulfillments"]] == [made["id"], rest.json()["id"]]


async def test_tracking_corrected_then_the_fulfillment_cancelled_in_the_admin(
    control: AsyncTestClient[Any], sandbox: ShopifySandbox, receiver: Receiver
) -> None:
    order_id = place(sandbox)
    made = (
        await control.post(f"/_sandbox/shops/{SHOP}/orders/{order_id}/fulfillments", json={})
    ).json()
    base = f"/_sandbox/shops/{SHOP}/fulfillments/{made['id']}"

    corrected = await control.post(
        f"{base}/tracking", json={"tracking": {"company": "DHL", "numbers": ["JD9"]}}
    )
    assert corrected.status_code == 201, corrected.text
    assert (corrected.json()["tracking_company"], corrected.json()["tracking_numbers"]) == (
        "DHL",
        ["JD9"],
    )
    cancelled = await control.post(f"{base}/cancel")
    assert cancelled.status_code == 201, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = await control.post(f"{base}/cancel")
    assert again.status_code == 422
    after = await control.post(f"{base}/tracking", json={"tracking": {"numbers": ["X"]}})
    assert after.status_code == 422
    missing = await control.post(f"/_sandbox/shops/{SHOP}/fulfillments/1/cancel")
    assert missing.status_code == 404

    await sandbox.webhooks.drain()
    updates = [b for t, b in receiver.received() if t == "fulfillments/update"]
    assert [(u["id"], u["status"], u["tracking_company"]) for u in updates] == [
        (made["id"], "success", "DHL"),
        (made["id"], "cancelled", "DHL"),
    ]
    assert sandbox.shop(SHOP).orders[order_id].fulfillment_status == "UNFULFILLED"
