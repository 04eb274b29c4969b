"""The sandbox's Admin GraphQL answers in Shopify's shapes."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.shopify import ShopifySandbox
from tests.unit.sandbox.conftest import SHOP, AdminClient, place_order

ORDER = """query($id: ID!) {
  order(id: $id) {
    id legacyResourceId name email tags displayFinancialStatus displayFulfillmentStatus
    totalPriceSet { shopMoney { amount currencyCode } }
    shippingAddress { countryCodeV2 }
    lineItems(first: 10) { nodes { id sku quantity variant { inventoryItem { id } } } }
    fulfillmentOrders(first: 5) {
      nodes { id status lineItems(first: 10) { nodes { id remainingQuantity } } }
    }
    metafield(namespace: "strata", key: "erp_order") { value type }
  }
}"""


def assert_cost(body: dict[str, Any]) -> dict[str, Any]:
    cost = body["extensions"]["cost"]
    assert set(cost) == {"requestedQueryCost", "actualQueryCost", "throttleStatus"}
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    return cost


async def test_order_query_has_shopify_shapes_and_cost(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    order_id = place_order(sandbox)
    body = await admin.run(ORDER, {"id": f"gid://shopify/Order/{order_id}"})
    order = body["data"]["order"]
    assert order["id"] == f"gid://shopify/Order/{order_id}"
    assert order["legacyResourceId"] == str(order_id)
    assert order["name"] == "#1001"
    assert order["totalPriceSet"]["shopMoney"] == {"amount": "54.70", "currencyCode": "EUR"}
    assert order["shippingAddress"]["countryCodeV2"] == "FR"
    assert order["lineItems"]["nodes"][0]["sku"] == "STR-TEE-BLK-M"
    assert order["fulfillmentOrders"]["nodes"][0]["status"] == "OPEN"
    cost = assert_cost(body)
    assert 0 < cost["actualQueryCost"] < cost["requestedQueryCost"]
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert cost["throttleStatus"]["restoreRate"] == 100.0


async def test_connection_cost_follows_documented_rule(admin: AdminClient) -> None:
    body = await admin.run("{ orders(first: 10) { edges { node { id name } } } }")
    # 2 for the connection + 10 x 1 per node object; scalars are free.
    assert assert_cost(body)["requestedQueryCost"] == 12
    assert assert_cost(body)["actualQueryCost"] == 2  # no orders yet


async def test_orders_paginate_with_cursors(admin: AdminClient, sandbox: ShopifySandbox) -> None:
    ids = [place_order(sandbox) for _ in range(3)]
    query = (
        "query($after: String) { orders(first: 2, after: $after) "
        "{ nodes { legacyResourceId } pageInfo { hasNextPage endCursor } } }"
    )
    first = (await admin.run(query))["data"]["orders"]
    assert [n["legacyResourceId"] for n in first["nodes"]] == [str(i) for i in ids[:2]]
    assert first["pageInfo"]["hasNextPage"] is True
    second = (await admin.run(query, {"after": first["pageInfo"]["endCursor"]}))["data"]["orders"]
    assert [n["legacyResourceId"] for n in second["nodes"]] == [str(ids[2])]
    assert second["pageInfo"]["hasNextPage"] is False
    found = await admin.run('{ orders(first: 5, query: "name:#1002") { nodes { name } } }')
    assert [n["name"] for n in found["data"]["orders"]["nodes"]] == ["#1002"]


async def test_validation_error_is_http_200_with_shopify_error_shape(admin: AdminClient) -> None:
    response = await admin.post("{ shop { nope } }")
    assert response.status_code == 200
    body = response.json()
    error = body["errors"][0]
    assert set(error) >= {"message", "locations", "extensions"}
    assert error["extensions"]["code"] == "undefinedField"
    assert "data" not in body
    assert_cost(body)


async def test_syntax_error_is_http_200(admin: AdminClient) -> None:
    body = await admin.run("{ shop { ")
    assert body["errors"][0]["extensions"]["code"] == "PARSE_ERROR"
    assert_cost(body)


async def test_bad_token_is_401_with_shopify_body(admin: AdminClient) -> None:
    response = await admin.post("{ shop { name } }", token="shpat_wrong")
    assert response.status_code == 401
    assert response.json() == {
        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
    }


async def test_expired_version_falls_forward_and_says_so(admin: AdminClient) -> None:
    response = await admin.post("{ shop { name } }", version="2025-04")
    assert response.status_code == 200
    assert response.headers["x-shopify-api-version"] == "2026-01"
    current = await admin.post("{ shop { name } }", version="2026-07")
    assert current.headers["x-shopify-api-version"] == "2026-07"
    unknown = await admin.post("{ shop { name } }", version="2031-01")
    assert unknown.status_code == 404


async def test_input_array_over_250_is_rejected(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    order_id = place_order(sandbox)
    tags = [f"t{i}" for i in range(251)]
    body = await admin.run(
        "mutation($id: ID!, $tags: [String!]!) "
        "{ tagsAdd(id: $id, tags: $tags) { userErrors { field message } } }",
        {"id": f"gid://shopify/Order/{order_id}", "tags": tags},
    )
    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert sandbox.order(SHOP, order_id).tags == []


async def test_query_above_single_query_max_is_rejected(admin: AdminClient) -> None:
    body = await admin.run(
        "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }"
    )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["maxCost"] == 1000
    assert "exceeds the single query max cost limit (1000)" in error["message"]
    cost = assert_cost(body)
    assert cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["currentlyAvailable"] == 2000


async def test_tiny_bucket_throttles_then_recovers_at_restore_rate(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    sandbox.configure_buckets(SHOP, maximum=30, restore_rate=200, currently_available=30)
    query = "{ orders(first: 10) { nodes { id } } }"  # requested 12
    first = await admin.run(query)
    assert "errors" not in first
    assert assert_cost(first)["throttleStatus"]["currentlyAvailable"] >= 28  # 30 - 2 actual
    sandbox.configure_buckets(SHOP, currently_available=5, restore_rate=50)
    throttled = await admin.run(query)
    assert throttled["errors"][0]["message"] == "Throttled"
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    cost = assert_cost(throttled)
    assert cost["requestedQueryCost"] == 12
    assert cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["currentlyAvailable"] < 12
    # 7 missing points at 50 points/s come back in 0.14 s.
    import asyncio

    await asyncio.sleep(0.2)
    recovered = await admin.run(query)
    assert "errors" not in recovered


async def test_throttled_call_spends_nothing(admin: AdminClient, sandbox: ShopifySandbox) -> None:
    sandbox.configure_buckets(SHOP, maximum=10, restore_rate=0.0001, currently_available=10)
    body = await admin.run("{ orders(first: 10) { nodes { id } } }")
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert int(sandbox.bucket(SHOP).available) == 10


async def test_tags_and_metafields_are_written(admin: AdminClient, sandbox: ShopifySandbox) -> None:
    order_gid = f"gid://shopify/Order/{place_order(sandbox)}"
    tagged = await admin.run(
        'mutation($id: ID!) { tagsAdd(id: $id, tags: ["erp:SO-17", "synced"]) '
        "{ node { ... on Order { tags } } userErrors { field message } } }",
        {"id": order_gid},
    )
    assert tagged["data"]["tagsAdd"]["userErrors"] == []
    assert tagged["data"]["tagsAdd"]["node"]["tags"] == ["erp:SO-17", "synced"]
    assert assert_cost(tagged)["requestedQueryCost"] == 10
    saved = await admin.run(
        """mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) {
             metafields { namespace key value }
             userErrors { field message code elementIndex } } }""",
        {
            "m": [
                {
                    "ownerId": order_gid,
                    "namespace": "strata",
                    "key": "erp_order",
                    "type": "single_line_text_field",
                    "value": "SO-17",
                }
            ]
        },
    )
    assert saved["data"]["metafieldsSet"]["userErrors"] == []
    read = await admin.run(ORDER, {"id": order_gid})
    assert read["data"]["order"]["metafield"] == {
        "value": "SO-17",
        "type": "single_line_text_field",
    }


async def test_user_errors_have_field_message_code(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    order_gid = f"gid://shopify/Order/{place_order(sandbox)}"
    body = await admin.run(
        """mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) {
             metafields { id } userErrors { field message code elementIndex } } }""",
        {
            "m": [
                {
                    "ownerId": order_gid,
                    "namespace": "strata",
                    "key": "n",
                    "type": "number_integer",
                    "value": "abc",
                }
            ]
        },
    )
    assert body["data"]["metafieldsSet"]["metafields"] is None
    assert body["data"]["metafieldsSet"]["userErrors"] == [
        {
            "field": ["metafields", "0", "value"],
            "message": "Value is invalid for type number_integer.",
            "code": "INVALID_VALUE",
            "elementIndex": 0,
        }
    ]
    missing = await admin.run(
        'mutation { tagsAdd(id: "gid://shopify/Order/1", tags: ["x"]) '
        "{ node { id } userErrors { field message } } }"
    )
    assert missing["data"]["tagsAdd"] == {
        "node": None,
        "userErrors": [{"field": ["id"], "message": "Order does not exist"}],
    }


async def test_fulfillment_create_with_tracking(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    order_id = place_order(sandbox, quantity=2)
    order = (await admin.run(ORDER, {"id": f"gid://shopify/Order/{order_id}"}))["data"]["order"]
    fo = order["fulfillmentOrders"]["nodes"][0]
    body = await admin.run(
        """mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) {
             fulfillment { id status trackingInfo { number url company } }
             userErrors { field message } } }""",
        {
            "f": {
                "lineItemsByFulfillmentOrder": [
                    {
                        "fulfillmentOrderId": fo["id"],
                        "fulfillmentOrderLineItems": [
                            {"id": fo["lineItems"]["nodes"][0]["id"], "quantity": 2}
                        ],
                    }
                ],
                "trackingInfo": {
                    "numbers": ["1Z999"],
                    "urls": ["https://track.example/1Z999"],
                    "company": "UPS",
                },
                "notifyCustomer": True,
            }
        },
    )
    result = body["data"]["fulfillmentCreate"]
    assert result["userErrors"] == []
    assert result["fulfillment"]["status"] == "SUCCESS"
    assert result["fulfillment"]["trackingInfo"] == [
        {"number": "1Z999", "url": "https://track.example/1Z999", "company": "UPS"}
    ]
    assert sandbox.order(SHOP, order_id).fulfillment_status == "FULFILLED"
    again = await admin.run(
        "mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) "
        "{ fulfillment { id } userErrors { field message } } }",
        {"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}]}},
    )
    assert again["data"]["fulfillmentCreate"]["fulfillment"] is None
    assert (
        again["data"]["fulfillmentCreate"]["userErrors"][0]["message"]
        == "Fulfillment order is closed."
    )


REFUND = """mutation($input: RefundInput!) {
  refundCreate(input: $input) @idempotent(key: "%s") {
    refund { id totalRefundedSet { shopMoney { amount } } }
    order { displayFinancialStatus }
    userErrors { field message }
  }
}"""


def refund_input(order_id: int, line_gid: str, amount: str = "24.90") -> dict[str, Any]:
    return {
        "orderId": f"gid://shopify/Order/{order_id}",
        "refundLineItems": [{"lineItemId": line_gid, "quantity": 1, "restockType": "NO_RESTOCK"}],
        "transactions": [
            {
                "amount": amount,
                "gateway": "manual",
                "kind": "REFUND",
                "orderId": f"gid://shopify/Order/{order_id}",
            }
        ],
    }


async def test_refund_is_idempotent_on_the_same_key(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    order_id = place_order(sandbox)
    line_gid = f"gid://shopify/LineItem/{sandbox.order(SHOP, order_id).line_items[0].id}"
    first = await admin.run(REFUND % "key-1", {"input": refund_input(order_id, line_gid)})
    replay = await admin.run(REFUND % "key-1", {"input": refund_input(order_id, line_gid)})
    assert first["data"]["refundCreate"]["userErrors"] == []
    assert (
        replay["data"]["refundCreate"]["refund"]["id"]
        == first["data"]["refundCreate"]["refund"]["id"]
    )
    assert len(sandbox.order(SHOP, order_id).refunds) == 1
    assert first["data"]["refundCreate"]["order"]["displayFinancialStatus"] == "PARTIALLY_REFUNDED"
    other = await admin.run(
        REFUND % "key-1", {"input": refund_input(order_id, line_gid, amount="1.00")}
    )
    assert other["data"]["refundCreate"]["refund"] is None
    assert "idempotency key" in other["data"]["refundCreate"]["userErrors"][0]["message"]
    second = await admin.run(REFUND % "key-2", {"input": refund_input(order_id, line_gid)})
    assert second["data"]["refundCreate"]["userErrors"] == []
    assert len(sandbox.order(SHOP, order_id).refunds) == 2


async def test_idempotent_directive_is_mandatory_from_2026_04(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    order_id = place_order(sandbox)
    line_gid = f"gid://shopify/LineItem/{sandbox.order(SHOP, order_id).line_items[0].id}"
    without_key = REFUND.replace(' @idempotent(key: "%s")', "")
    body = await admin.run(without_key, {"input": refund_input(order_id, line_gid)})
    assert body["data"]["refundCreate"] is None
    assert body["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    assert body["errors"][0]["path"] == ["refundCreate"]
    assert sandbox.order(SHOP, order_id).refunds == []
    older = await admin.run(
        without_key, {"input": refund_input(order_id, line_gid)}, version="2026-01"
    )
    assert older["data"]["refundCreate"]["userErrors"] == []


ADJUST = """mutation($input: InventoryAdjustQuantitiesInput!) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { changes { name delta quantityAfterChange } }
    userErrors { field message code }
  }
}"""


async def _item_and_location(admin: AdminClient, sku: str = "STR-CAP-NVY") -> tuple[str, str]:
    body = await admin.run(
        "query($q: String) { inventoryItems(first: 1, query: $q) { nodes { id sku } } "
        "locations(first: 1) { nodes { id } } }",
        {"q": f"sku:{sku}"},
    )
    item = body["data"]["inventoryItems"]["nodes"][0]
    assert item["sku"] == sku
    return item["id"], body["data"]["locations"]["nodes"][0]["id"]


async def test_adjust_quantities_replays_with_same_key(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    item, location = await _item_and_location(admin)
    query = ADJUST.replace("mutation($input", "mutation($key: String!, $input")
    variables = {
        "key": "adj-1",
        "input": {
            "name": "available",
            "reason": "received",
            "changes": [{"delta": 5, "inventoryItemId": item, "locationId": location}],
        },
    }
    first = await admin.run(query, variables)
    again = await admin.run(query, variables)
    changes = first["data"]["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"]["changes"]
    assert {"name": "available", "delta": 5, "quantityAfterChange": 105} in changes
    assert again["data"] == first["data"]
    rows = sandbox.inventory(SHOP, sku="STR-CAP-NVY")
    assert [r["available"] for r in rows] == [105, 100]


SET = """mutation($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason changes { name delta quantityAfterChange } }
    userErrors { field message code }
  }
}"""


def set_input(item: str, location: str, quantity: int, **extra: Any) -> dict[str, Any]:
    return {
        "input": {
            "name": "available",
            "reason": "correction",
            "quantities": [
                {"inventoryItemId": item, "locationId": location, "quantity": quantity, **extra}
            ],
        }
    }


async def test_change_from_quantity_is_compare_and_swap(
    admin: AdminClient, sandbox: ShopifySandbox
) -> None:
    item, location = await _item_and_location(admin)
    ok = await admin.run(SET, set_input(item, location, 80, changeFromQuantity=100))
    assert ok["data"]["inventorySetQuantities"]["userErrors"] == []
    stale = await admin.run(SET, set_input(item, location, 70, changeFromQuantity=100))
    result = stale["data"]["inventorySetQuantities"]
    assert result["inventoryAdjustmentGroup"] is None
    assert result["userErrors"] == [
        {
            "field": ["input", "quantities", "0", "changeFromQuantity"],
            "message": "The changeFromQuantity value does not match persisted value.",
            "code": "CHANGE_FROM_QUANTITY_STALE",
        }
    ]
    opt_out = await admin.run(SET, set_input(item, location, 70, changeFromQuantity=None))
    assert opt_out["data"]["inventorySetQuantities"]["userErrors"] == []
    omitted = await admin.run(SET, set_input(item, location, 60))
    assert (
        omitted["data"]["inventorySetQuantities"]["userErrors"][0]["code"]
        == "COMPARE_QUANTITY_REQUIRED"
    )
    level = sandbox.inventory(SHOP, sku="STR-CAP-NVY")[0]
    assert (level["available"], level["on_hand"]) == (70, 70)


async def test_before_2026_04_compare_quantity_still_exists(admin: AdminClient) -> None:
    item, location = await _item_and_location(admin)
    legacy = await admin.run(
        SET, set_input(item, location, 90, compareQuantity=100), version="2026-01"
    )
    assert legacy["data"]["inventorySetQuantities"]["userErrors"] == []
    removed = await admin.run(SET, set_input(item, location, 90, compareQuantity=90))
    assert "compareQuantity" in removed["errors"][0]["message"]


@pytest.mark.parametrize("status", [503, 502])
async def test_injected_failures_answer_5xx_then_recover(
    admin: AdminClient, sandbox: ShopifySandbox, status: int
) -> None:
    sandbox.inject_graphql_failures(2, status=status)
    assert (await admin.post("{ shop { name } }")).status_code == status
    assert (await admin.post("{ shop { name } }")).status_code == status
    assert (await admin.post("{ shop { name } }")).status_code == 200
