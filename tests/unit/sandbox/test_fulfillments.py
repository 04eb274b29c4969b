"""The sandbox's fulfillments: per-location fulfillment orders, fulfillmentCreate,
fulfillmentTrackingInfoUpdate and fulfillmentCancel with Shopify's userErrors and webhooks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from sandbox.shopify import OrderDraft, OrderLineDraft, SandboxSettings, ShopifySandbox
from sandbox.shopify.app import create_app
from sandbox.shopify.commerce import CommerceError
from sandbox.shopify.fulfillments import (
    AdminFulfillment,
    AdminFulfillmentLine,
    AdminTracking,
    fulfil_in_admin,
)
from tests.unit.sandbox.conftest import SHOP, AdminClient

HOOK = "https://ingress.example/webhooks"
TOPICS = (
    "fulfillments/create",
    "fulfillments/update",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/updated",
)

ORDER = """query($id: ID!) { order(id: $id) {
  displayFulfillmentStatus
  lineItems(first: 10) { nodes { id sku unfulfilledQuantity } }
  fulfillmentOrders(first: 10) { nodes {
    id status assignedLocation { location { id } }
    lineItems(first: 10) { nodes { id totalQuantity remainingQuantity lineItem { id sku } } }
  } }
  fulfillments(first: 10) { id status displayStatus trackingInfo { number url company } }
} }"""

CREATE = """mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) {
  fulfillment { id name status displayStatus totalQuantity trackingInfo { number url company }
    fulfillmentLineItems(first: 10) { nodes { quantity lineItem { sku } } }
    fulfillmentOrders(first: 5) { nodes { id status } } }
  userErrors { field message } } }"""

TRACKING = """mutation($id: ID!, $t: FulfillmentTrackingInput!, $notify: Boolean) {
  fulfillmentTrackingInfoUpdate(
    fulfillmentId: $id, trackingInfoInput: $t, notifyCustomer: $notify
  ) {
    fulfillment { id status trackingInfo { number url company } }
    userErrors { field message } } }"""

CANCEL = """mutation($id: ID!) { fulfillmentCancel(id: $id) {
  fulfillment { id status displayStatus } userErrors { field message } } }"""


class Receiver:
    """A webhook endpoint that answers 200 and keeps what it got."""

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
async def admin(sandbox: ShopifySandbox) -> AsyncIterator[AdminClient]:
    async with AsyncTestClient(create_app(sandbox=sandbox)) as client:
        yield AdminClient(client)


def place(sandbox: ShopifySandbox, *lines: tuple[str, int]) -> int:
    draft = OrderDraft(line_items=[OrderLineDraft(sku=sku, quantity=q) for sku, q in lines])
    return sandbox.create_order(SHOP, draft).id


async def read_order(admin: AdminClient, order_id: int) -> dict[str, Any]:
    body = await admin.run(ORDER, {"id": f"gid://shopify/Order/{order_id}"})
    assert "errors" not in body, body
    order: dict[str, Any] = body["data"]["order"]
    return order


def by_fo(fo: dict[str, Any], **quantities: int) -> dict[str, Any]:
    """A ``FulfillmentOrderLineItemsInput`` shipping ``quantities`` by SKU from ``fo``."""
    return {
        "fulfillmentOrderId": fo["id"],
        "fulfillmentOrderLineItems": [
            {"id": line["id"], "quantity": quantities[line["lineItem"]["sku"]]}
            for line in fo["lineItems"]["nodes"]
            if line["lineItem"]["sku"] in quantities
        ],
    }


async def create(admin: AdminClient, **fulfillment: Any) -> dict[str, Any]:
    body = await admin.run(CREATE, {"f": fulfillment})
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["fulfillmentCreate"]
    return result


async def test_lines_stocked_at_different_locations_get_a_fulfillment_order_each(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    shop = sandbox.shop(SHOP)
    lyon, berlin = list(shop.locations)
    sandbox.set_stock(SHOP, "STR-HOOD-GRY-M", 0, lyon)
    order_id = place(sandbox, ("STR-TEE-BLK-M", 1), ("STR-HOOD-GRY-M", 1))
    order = await read_order(admin, order_id)
    located = {
        fo["assignedLocation"]["location"]["id"]: [
            line["lineItem"]["sku"] for line in fo["lineItems"]["nodes"]
        ]
        for fo in order["fulfillmentOrders"]["nodes"]
    }
    assert located == {
        f"gid://shopify/Location/{lyon}": ["STR-TEE-BLK-M"],
        f"gid://shopify/Location/{berlin}": ["STR-HOOD-GRY-M"],
    }
    # One fulfillment covers fulfillment orders of one location only.
    [fo_lyon, fo_berlin] = order["fulfillmentOrders"]["nodes"]
    both = await create(
        admin,
        lineItemsByFulfillmentOrder=[
            by_fo(fo_lyon, **{"STR-TEE-BLK-M": 1}),
            by_fo(fo_berlin, **{"STR-HOOD-GRY-M": 1}),
        ],
    )
    assert both["fulfillment"] is None
    assert both["userErrors"] == [
        {
            "field": ["fulfillment", "lineItemsByFulfillmentOrder"],
            "message": "All fulfillment orders must belong to the same order and location.",
        }
    ]


async def test_partial_then_full_with_tracking_and_webhooks(
    admin: AdminClient, sandbox: ShopifySandbox, receiver: Receiver
) -> None:
    order_id = place(sandbox, ("STR-TEE-BLK-M", 3))
    [fo] = (await read_order(admin, order_id))["fulfillmentOrders"]["nodes"]
    first = await create(
        admin,
        lineItemsByFulfillmentOrder=[by_fo(fo, **{"STR-TEE-BLK-M": 1})],
        trackingInfo={
            "company": "DHL Express",
            "numbers": ["JD0001", "JD0002"],
            "urls": ["https://dhl.example/JD0001", "https://dhl.example/JD0002"],
        },
        notifyCustomer=True,
    )
    assert first["userErrors"] == []
    shipped = first["fulfillment"]
    assert shipped["status"] == "SUCCESS"
    assert shipped["displayStatus"] == "FULFILLED"
    assert shipped["totalQuantity"] == 1
    assert [t["number"] for t in shipped["trackingInfo"]] == ["JD0001", "JD0002"]
    assert {t["company"] for t in shipped["trackingInfo"]} == {"DHL Express"}
    assert shipped["fulfillmentOrders"]["nodes"] == [{"id": fo["id"], "status": "IN_PROGRESS"}]
    order = await read_order(admin, order_id)
    assert order["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    assert order["fulfillmentOrders"]["nodes"][0]["lineItems"]["nodes"][0]["remainingQuantity"] == 2

    rest = await create(admin, lineItemsByFulfillmentOrder=[{"fulfillmentOrderId": fo["id"]}])
    assert rest["userErrors"] == []
    assert rest["fulfillment"]["totalQuantity"] == 2
    assert rest["fulfillment"]["displayStatus"] == "MARKED_AS_FULFILLED"
    order = await read_order(admin, order_id)
    assert order["displayFulfillmentStatus"] == "FULFILLED"
    assert order["fulfillmentOrders"]["nodes"][0]["status"] == "CLOSED"

    await sandbox.webhooks.drain()
    got = receiver.received()
    topics = [topic for topic, _ in got]
    assert topics == [
        "fulfillments/create",
        "orders/partially_fulfilled",
        "orders/updated",
        "fulfillments/create",
        "orders/fulfilled",
        "orders/updated",
    ]
    body = got[0][1]
    assert body["admin_graphql_api_id"] == shipped["id"]
    assert body["order_id"] == order_id
    assert body["status"] == "success"
    assert body["shipment_status"] is None
    assert body["tracking_company"] == "DHL Express"
    assert body["tracking_number"] == "JD0001"
    assert body["tracking_numbers"] == ["JD0001", "JD0002"]
    assert body["tracking_urls"] == ["https://dhl.example/JD0001", "https://dhl.example/JD0002"]
    assert [(li["sku"], li["quantity"]) for li in body["line_items"]] == [("STR-TEE-BLK-M", 1)]
    assert got[1][1]["fulfillment_status"] == "partial"
    assert got[4][1]["fulfillment_status"] == "fulfilled"


async def test_closed_fulfillment_order_and_over_quantity_are_user_errors(
    admin: AdminClient, sandbox: ShopifySandbox, receiver: Receiver
) -> None:
    order_id = place(sandbox, ("STR-TEE-BLK-M", 2))
    [fo] = (await read_order(admin, order_id))["fulfillmentOrders"]["nodes"]
    over = await create(admin, lineItemsByFulfillmentOrder=[by_fo(fo, **{"STR-TEE-BLK-M": 3})])
    assert over == {
        "fulfillment": None,
        "userErrors": [
            {
                "field": [
                    "fulfillment",
                    "lineItemsByFulfillmentOrder",
                    "0",
                    "fulfillmentOrderLineItems",
                    "0",
                    "quantity",
                ],
                "message": "Invalid quantity 3: 2 remaining.",
            }
        ],
    }
    done = await create(admin, lineItemsByFulfillmentOrder=[{"fulfillmentOrderId": fo["id"]}])
    assert done["userErrors"] == []
    closed = await create(admin, lineItemsByFulfillmentOrder=[by_fo(fo, **{"STR-TEE-BLK-M": 1})])
    assert closed == {
        "fulfillment": None,
        "userErrors": [
            {
                "field": ["fulfillment", "lineItemsByFulfillmentOrder", "0", "fulfillmentOrderId"],
                "message": "Fulfillment order is closed.",
            }
        ],
    }
    # Refused changes change nothing and send nothing.
    await sandbox.webhooks.drain()
    assert [t for t, _ in receiver.received()].count("fulfillments/create") == 1
    assert len(sandbox.order(SHOP, order_id).fulfillments) == 1


async def test_tracking_update_replaces_numbers_and_sends_fulfillments_update(
    admin: AdminClient, sandbox: ShopifySandbox, receiver: Receiver
) -> None:
    order_id = place(sandbox, ("STR-TEE-BLK-M", 1))
    [fo] = (await read_order(admin, order_id))["fulfillmentOrders"]["nodes"]
    created = await create(
        admin,
        lineItemsByFulfillmentOrder=[{"fulfillmentOrderId": fo["id"]}],
        trackingInfo={"company": "UPS", "number": "1ZWRONG"},
    )
    fulfillment_id = created["fulfillment"]["id"]
    body = await admin.run(
        TRACKING,
        {
            "id": fulfillment_id,
            "t": {
                "company": "UPS",
                "numbers": ["1Z999AA10123456784", "1Z999AA10123456785"],
                "urls": ["https://ups.example/1", "https://ups.example/2"],
            },
            "notify": True,
        },
    )
    result = body["data"]["fulfillmentTrackingInfoUpdate"]
    assert result["userErrors"] == []
    assert result["fulfillment"]["trackingInfo"] == [
        {"number": "1Z999AA10123456784", "url": "https://ups.example/1", "company": "UPS"},
        {"number": "1Z999AA10123456785", "url": "https://ups.example/2", "company": "UPS"},
    ]
    stored = sandbox.order(SHOP, order_id).fulfillments[0]
    assert stored.notify_customer is True
    missing = await admin.run(TRACKING, {"id": "gid://shopify/Fulfillment/1", "t": {"number": "X"}})
    assert missing["data"]["fulfillmentTrackingInfoUpdate"] == {
        "fulfillment": None,
        "userErrors": [{"field": ["fulfillmentId"], "message": "Fulfillment does not exist."}],
    }
    await sandbox.webhooks.drain()
    updates = [b for t, b in receiver.received() if t == "fulfillments/update"]
    assert len(updates) == 1
    assert updates[0]["tracking_numbers"] == ["1Z999AA10123456784", "1Z999AA10123456785"]
    assert updates[0]["tracking_urls"] == ["https://ups.example/1", "https://ups.example/2"]
    assert updates[0]["tracking_company"] == "UPS"
    assert updates[0]["status"] == "success"


async def test_cancel_reopens_quantities_and_refuses_twice(
    admin: AdminClient, sandbox: ShopifySandbox, receiver: Receiver
) -> None:
    order_id = place(sandbox, ("STR-TEE-BLK-M", 3))
    shop = sandbox.shop(SHOP)
    [fo] = (await read_order(admin, order_id))["fulfillmentOrders"]["nodes"]
    partial = await create(admin, lineItemsByFulfillmentOrder=[by_fo(fo, **{"STR-TEE-BLK-M": 1})])
    item = shop.item_by_sku("STR-TEE-BLK-M")
    assert item is not None
    level_of = shop.levels[(item.id, shop.orders[order_id].fulfillment_orders[0].location_id)]
    committed, on_hand = level_of.get("committed"), level_of.get("on_hand")

    # In progress: the fulfillment order gets the unit back and is open again.
    cancelled = await admin.run(CANCEL, {"id": partial["fulfillment"]["id"]})
    result = cancelled["data"]["fulfillmentCancel"]
    assert result["userErrors"] == []
    assert result["fulfillment"]["status"] == "CANCELLED"
    assert result["fulfillment"]["displayStatus"] == "CANCELED"
    order = await read_order(admin, order_id)
    assert order["displayFulfillmentStatus"] == "UNFULFILLED"
    [reopened] = order["fulfillmentOrders"]["nodes"]
    assert reopened["status"] == "OPEN"
    assert reopened["lineItems"]["nodes"][0]["remainingQuantity"] == 3
    assert (level_of.get("committed"), level_of.get("on_hand")) == (committed + 1, on_hand + 1)

    again = await admin.run(CANCEL, {"id": partial["fulfillment"]["id"]})
    assert again["data"]["fulfillmentCancel"] == {
        "fulfillment": None,
        "userErrors": [{"field": ["id"], "message": "Fulfillment has already been cancelled."}],
    }

    # Closed: it stays closed and a new fulfillment order opens for the cancelled units.
    full = await create(admin, lineItemsByFulfillmentOrder=[{"fulfillmentOrderId": fo["id"]}])
    assert (await read_order(admin, order_id))["displayFulfillmentStatus"] == "FULFILLED"
    await admin.run(CANCEL, {"id": full["fulfillment"]["id"]})
    order = await read_order(admin, order_id)
    assert order["displayFulfillmentStatus"] == "UNFULFILLED"
    old, new = order["fulfillmentOrders"]["nodes"]
    assert old["status"] == "CLOSED"
    assert new["status"] == "OPEN"
    assert new["assignedLocation"] == old["assignedLocation"]
    assert [
        (li["lineItem"]["sku"], li["remainingQuantity"]) for li in new["lineItems"]["nodes"]
    ] == [("STR-TEE-BLK-M", 3)]
    shipped = await create(admin, lineItemsByFulfillmentOrder=[{"fulfillmentOrderId": new["id"]}])
    assert shipped["userErrors"] == []
    assert (await read_order(admin, order_id))["displayFulfillmentStatus"] == "FULFILLED"

    await sandbox.webhooks.drain()
    updates = [b for t, b in receiver.received() if t == "fulfillments/update"]
    assert [(u["id"], u["status"]) for u in updates] == [
        (int(partial["fulfillment"]["id"].rsplit("/", 1)[1]), "cancelled"),
        (int(full["fulfillment"]["id"].rsplit("/", 1)[1]), "cancelled"),
    ]


async def test_a_warehouse_fulfilling_in_the_admin_sends_the_same_webhooks(
    sandbox: ShopifySandbox, receiver: Receiver
) -> None:
    order_id = place(sandbox, ("STR-TEE-BLK-M", 2), ("STR-HOOD-GRY-M", 1))
    shop = sandbox.shop(SHOP)
    order = shop.orders[order_id]
    request = AdminFulfillment(
        lines=[AdminFulfillmentLine(sku="STR-TEE-BLK-M", quantity=1)],
        tracking=AdminTracking(
            company="La Poste", numbers=["6A1"], urls=["https://lp.example/6A1"]
        ),
    )
    fulfillment, events = fulfil_in_admin(sandbox.state, shop, order, request)
    sandbox.webhooks.publish(shop.domain, events)
    assert [(fl.quantity) for fl in fulfillment.lines] == [1]
    assert order.fulfillment_status == "PARTIALLY_FULFILLED"
    with pytest.raises(CommerceError, match="Only 1 of 2 left"):
        fulfil_in_admin(
            sandbox.state,
            shop,
            order,
            AdminFulfillment(lines=[AdminFulfillmentLine(sku="STR-TEE-BLK-M", quantity=2)]),
        )
    _, rest = fulfil_in_admin(sandbox.state, shop, order, AdminFulfillment())
    sandbox.webhooks.publish(shop.domain, rest)
    assert order.fulfillment_status == "FULFILLED"
    await sandbox.webhooks.drain()
    got = receiver.received()
    assert [t for t, _ in got if t.startswith(("fulfillments/", "orders/p", "orders/f"))] == [
        "fulfillments/create",
        "orders/partially_fulfilled",
        "fulfillments/create",
        "orders/fulfilled",
    ]
    assert got[0][1]["tracking_company"] == "La Poste"
    assert got[0][1]["tracking_numbers"] == ["6A1"]
