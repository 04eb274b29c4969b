"""The Admin GraphQL client and the v1 shop routes against the Shopify sandbox (a real server)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from shared.http import make_client
from system_apis.shopify.admin import AdminGraphQL
from system_apis.shopify.app import create_app
from system_apis.shopify.problems import ShopifyUserErrors
from system_apis.shopify.schemas import InventoryAdjust, InventoryChangeAdjust
from system_apis.shopify.service import ORDER, REFUNDS, ShopifyService
from system_apis.shopify.settings import ShopConfig, ShopifySettings
from tests.support.processes import child_env, free_port, wait_for_port
from tests.support.tokens import TokenMint

pytestmark = pytest.mark.integration

SHOP = "demo-eu.myshopify.com"
TOKEN = "shpat_sandbox_token"


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "sandbox.shopify.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ],
        env=child_env(STRATA_SANDBOX_API_VERSION="2026-10"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def shopify_settings(sandbox_url: str, redis_url: str, **overrides: Any) -> ShopifySettings:
    values: dict[str, Any] = {
        "shops": {SHOP: ShopConfig(secret="unused", access_token=TOKEN)},
        "redis_url": redis_url,
        "admin_url": sandbox_url + "/shops/{shop}/admin/api/{version}/graphql.json",
    }
    values.update(overrides)
    return ShopifySettings(**values)


@pytest.fixture
async def control(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url + "/_sandbox", timeout=10) as client:
        yield client


@pytest.fixture
async def bucket_keys_cleared(redis_url: str) -> AsyncIterator[None]:
    # Each test starts with no model of the shop's bucket (the keys are shared per shop).
    redis = Redis.from_url(redis_url)
    for key in await redis.keys("strata:shopify:{" + SHOP + "}:*"):
        await redis.delete(key)
    yield
    await redis.aclose()


@pytest.fixture
async def client(
    sandbox_url: str, redis_url: str, token_mint: TokenMint, bucket_keys_cleared: None
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(shopify_settings(sandbox_url, redis_url), auth=token_mint.settings())
    async with AsyncTestClient(app) as test_client:
        test_client.headers.update(token_mint.headers("shopify:read", "shopify:write"))
        yield test_client


async def place_order(control: httpx.AsyncClient, quantity: int = 2) -> dict[str, Any]:
    response = await control.post(
        f"/shops/{SHOP}/orders",
        json={"line_items": [{"sku": "STR-TEE-BLK-M", "quantity": quantity}]},
    )
    assert response.status_code in (200, 201), response.text
    order: dict[str, Any] = response.json()
    return order


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"test-{uuid.uuid4()}"}


async def test_order_is_read_with_lines_and_fulfillment_orders(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    placed = await place_order(control)
    response = await client.get(f"/shopify/v1/shops/{SHOP}/orders/{placed['id']}")
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["id"] == placed["id"]
    assert order["lines"][0]["sku"] == "STR-TEE-BLK-M"
    assert order["lines"][0]["quantity"] == 2
    assert order["fulfillment_orders"][0]["lines"][0]["remaining_quantity"] == 2
    missing = await client.get(f"/shopify/v1/shops/{SHOP}/orders/999999999")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("shopify-record-not-found")


async def test_tags_and_metafield_are_written_once(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    placed = await place_order(control)
    base = f"/shopify/v1/shops/{SHOP}/orders/{placed['id']}"
    headers = key()
    first = await client.post(f"{base}/tags", json={"tags": ["erp:SO-1001"]}, headers=headers)
    again = await client.post(f"{base}/tags", json={"tags": ["erp:SO-1001"]}, headers=headers)
    assert first.status_code == 200, first.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert "erp:SO-1001" in first.json()["tags"]
    meta = {"namespace": "strata", "key": "erp_order", "value": "SO-1001"}
    written = await client.post(f"{base}/metafields", json=meta, headers=key())
    assert written.status_code == 200, written.text
    seen = (await control.get(f"/shops/{SHOP}/orders/{placed['id']}")).json()
    assert "erp:SO-1001" in seen["tag_list"]
    assert {"namespace": "strata", "key": "erp_order", "value": "SO-1001"}.items() <= (
        seen["metafields"][0].items()
    )


async def test_unsafe_routes_need_an_idempotency_key_and_a_write_scope(
    client: AsyncTestClient[Litestar], token_mint: TokenMint
) -> None:
    url = f"/shopify/v1/shops/{SHOP}/orders/1/tags"
    no_key = await client.post(url, json={"tags": ["x"]})
    assert no_key.status_code == 400
    read_only = await client.post(
        url, json={"tags": ["x"]}, headers={**key(), **token_mint.headers("shopify:read")}
    )
    assert read_only.status_code == 403


async def test_stale_change_from_quantity_is_a_422_problem(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    level = (await control.get(f"/shops/{SHOP}/inventory", params={"sku": "STR-CAP-NVY"})).json()[0]
    body = {
        "quantities": [
            {
                "inventory_item_id": level["inventory_item_id"],
                "location_id": level["location_id"],
                "quantity": 7,
                "change_from_quantity": level["available"] + 1000,
            }
        ]
    }
    url = f"/shopify/v1/shops/{SHOP}/inventory/set"
    stale = await client.post(url, json=body, headers=key())
    assert stale.status_code == 422, stale.text
    problem = stale.json()
    assert problem["type"].endswith("shopify-user-errors")
    assert problem["errors"][0]["code"] == "CHANGE_FROM_QUANTITY_STALE"
    body["quantities"][0]["change_from_quantity"] = level["available"]
    ok = await client.post(url, json=body, headers=key())
    assert ok.status_code == 200, ok.text
    assert ok.json()["changes"][0]["quantity_after_change"] == 7
    now = (await control.get(f"/shops/{SHOP}/inventory", params={"sku": "STR-CAP-NVY"})).json()
    assert now[0]["available"] == 7


async def test_fulfillment_and_refund(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    placed = await place_order(control, quantity=2)
    fo = placed["fulfillment_orders"][0]
    fulfilled = await client.post(
        f"/shopify/v1/shops/{SHOP}/fulfillments",
        json={
            "fulfillment_orders": [{"fulfillment_order_id": fo["id"]}],
            "tracking": {"numbers": ["6A123"], "company": "La Poste"},
        },
        headers=key(),
    )
    assert fulfilled.status_code == 201, fulfilled.text
    assert fulfilled.json()["tracking"][0]["number"] == "6A123"
    line_id = placed["line_items"][0]["id"]
    refunded = await client.post(
        f"/shopify/v1/shops/{SHOP}/orders/{placed['id']}/refunds",
        json={"lines": [{"line_item_id": line_id, "quantity": 1, "restock_type": "NO_RESTOCK"}]},
        headers=key(),
    )
    assert refunded.status_code == 201, refunded.text
    refunds = (await control.get(f"/shops/{SHOP}/refunds")).json()
    assert any(r["order_id"] == placed["id"] for r in refunds)


async def test_orders_are_listed_for_reconciliation(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    await place_order(control)
    await place_order(control)
    page = await client.get(f"/shopify/v1/shops/{SHOP}/orders", params={"limit": 1})
    assert page.status_code == 200, page.text
    assert len(page.json()["items"]) == 1
    assert page.json()["next_cursor"]
    following = await client.get(
        f"/shopify/v1/shops/{SHOP}/orders",
        params={"limit": 1, "cursor": page.json()["next_cursor"]},
    )
    assert following.json()["items"][0]["id"] != page.json()["items"][0]["id"]


async def test_idempotent_key_is_sent_and_honoured_by_shopify(
    sandbox_url: str, redis_url: str, control: httpx.AsyncClient, bucket_keys_cleared: None
) -> None:
    # From 2026-04 Shopify refuses inventoryAdjustQuantities without @idempotent: success
    # proves the key went out, and the same key twice moves stock once.
    redis = Redis.from_url(redis_url)
    http = make_client()
    try:
        service = ShopifyService(
            AdminGraphQL(shopify_settings(sandbox_url, redis_url), http, redis)
        )
        level = (
            await control.get(f"/shops/{SHOP}/inventory", params={"sku": "STR-BAG-CNV"})
        ).json()[0]
        request = InventoryAdjust(
            changes=[
                InventoryChangeAdjust(
                    inventory_item_id=level["inventory_item_id"],
                    location_id=level["location_id"],
                    delta=-2,
                )
            ]
        )
        same = f"adjust-{uuid.uuid4()}"
        await service.adjust_inventory(SHOP, request, same)
        await service.adjust_inventory(SHOP, request, same)
        after = (
            await control.get(f"/shops/{SHOP}/inventory", params={"sku": "STR-BAG-CNV"})
        ).json()
        moved = next(r for r in after if r["location_id"] == level["location_id"])
        assert moved["available"] == level["available"] - 2
        nowhere = InventoryAdjust(
            changes=[
                InventoryChangeAdjust(
                    inventory_item_id=level["inventory_item_id"], location_id=10**12, delta=1
                )
            ]
        )
        with pytest.raises(ShopifyUserErrors):
            await service.adjust_inventory(SHOP, nowhere, f"adjust-{uuid.uuid4()}")
    finally:
        await http.aclose()
        await redis.aclose()


async def test_a_tiny_bucket_is_never_throttled_twice_in_a_row(
    sandbox_url: str, redis_url: str, control: httpx.AsyncClient, bucket_keys_cleared: None
) -> None:
    configured = await control.put(
        f"/shops/{SHOP}/bucket",
        json={"maximum_available": 40, "restore_rate": 200, "currently_available": 40},
    )
    assert configured.status_code == 200, configured.text
    redis = Redis.from_url(redis_url)
    http = make_client()
    try:
        admin = AdminGraphQL(shopify_settings(sandbox_url, redis_url), http, redis)
        service = ShopifyService(admin)
        level = (
            await control.get(f"/shops/{SHOP}/inventory", params={"sku": "STR-TEE-WHT-L"})
        ).json()[0]
        requests = [
            InventoryAdjust(
                changes=[
                    InventoryChangeAdjust(
                        inventory_item_id=level["inventory_item_id"],
                        location_id=level["location_id"],
                        delta=1,
                    )
                ]
            )
            for _ in range(40)
        ]

        # Eight concurrent workers share one bucket model, as replicas would; their first
        # burst is larger than the bucket, which the model only learns from Shopify.
        async def worker(chunk: list[InventoryAdjust]) -> None:
            for request in chunk:
                await service.adjust_inventory(SHOP, request, f"tiny-{uuid.uuid4()}")

        await asyncio.gather(*(worker(requests[i::8]) for i in range(8)))
        after = (
            await control.get(f"/shops/{SHOP}/inventory", params={"sku": "STR-TEE-WHT-L"})
        ).json()
        moved = next(r for r in after if r["location_id"] == level["location_id"])
        assert moved["available"] == level["available"] + 40
        assert admin.stats.throttled_in_a_row_max <= 1

    finally:
        await control.put(
            f"/shops/{SHOP}/bucket",
            json={"maximum_available": 2000, "restore_rate": 100, "currently_available": 2000},
        )
        await http.aclose()
        await redis.aclose()


async def fulfil_and_refund(
    client: AsyncTestClient[Litestar], placed: dict[str, Any], note: str
) -> None:
    fo = placed["fulfillment_orders"][0]
    fulfilled = await client.post(
        f"/shopify/v1/shops/{SHOP}/fulfillments",
        json={
            "fulfillment_orders": [{"fulfillment_order_id": fo["id"]}],
            "tracking": {
                "numbers": ["6A123"],
                "urls": ["https://www.laposte.fr/outils/suivre-vos-envois?code=6A123"],
                "company": "La Poste",
            },
        },
        headers=key(),
    )
    assert fulfilled.status_code == 201, fulfilled.text
    assert fulfilled.json()["created_at"]
    refunded = await client.post(
        f"/shopify/v1/shops/{SHOP}/orders/{placed['id']}/refunds",
        json={
            "lines": [
                {"line_item_id": placed["line_items"][0]["id"], "quantity": 1,
                 "restock_type": "NO_RESTOCK"}
            ],
            "transactions": [{"amount": "24.90", "gateway": "manual"}],
            "note": note,
        },
        headers=key(),
    )  # fmt: skip
    assert refunded.status_code == 201, refunded.text
    assert refunded.json()["note"] == note


async def test_order_read_carries_its_fulfillments_with_tracking(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    placed = await place_order(control, quantity=2)
    before = (await client.get(f"/shopify/v1/shops/{SHOP}/orders/{placed['id']}")).json()
    assert before["fulfillments"] == []
    await fulfil_and_refund(client, placed, "Damaged in transit")
    response = await client.get(f"/shopify/v1/shops/{SHOP}/orders/{placed['id']}")
    assert response.status_code == 200, response.text
    [fulfillment] = response.json()["fulfillments"]
    assert fulfillment["id"] >= 1
    assert fulfillment["name"]
    assert fulfillment["status"] == "SUCCESS"
    assert fulfillment["created_at"].startswith("20")
    assert fulfillment["tracking"] == [
        {
            "number": "6A123",
            "url": "https://www.laposte.fr/outils/suivre-vos-envois?code=6A123",
            "company": "La Poste",
        }
    ]


async def test_refunds_of_an_order_are_listed(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    placed = await place_order(control, quantity=2)
    url = f"/shopify/v1/shops/{SHOP}/orders/{placed['id']}/refunds"
    none_yet = await client.get(url)
    assert none_yet.status_code == 200, none_yet.text
    assert none_yet.json() == {"items": []}
    await fulfil_and_refund(client, placed, "Damaged in transit")
    seen = (await control.get(f"/shops/{SHOP}/refunds")).json()
    mine = [r for r in seen if r["order_id"] == placed["id"]]
    response = await client.get(url)
    assert response.status_code == 200, response.text
    [refund] = response.json()["items"]
    assert refund["id"] == mine[0]["id"]
    assert refund["note"] == "Damaged in transit"
    assert refund["created_at"].startswith("20")
    assert refund["total_refunded"]["currency"] == placed["currency"]
    assert float(refund["total_refunded"]["amount"]) == pytest.approx(24.90)
    missing = await client.get(f"/shopify/v1/shops/{SHOP}/orders/999999999/refunds")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("shopify-record-not-found")


async def test_refunds_need_the_read_scope(
    client: AsyncTestClient[Litestar], token_mint: TokenMint
) -> None:
    url = f"/shopify/v1/shops/{SHOP}/orders/1/refunds"
    wrong = await client.get(url, headers=token_mint.headers("shopify:write"))
    assert wrong.status_code == 403
    client.headers.pop("Authorization")
    assert (await client.get(url)).status_code == 401


async def test_the_service_desk_reads_both_shapes_in_full(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    # The order context decodes leniently (absent fields take defaults), so a field it wants
    # under another name would go unnoticed: every field it declares must be answered.
    from process_apis.orders.context import (
        ShopifyFulfillmentView,
        ShopifyMoney,
        ShopifyOrderView,
        ShopifyRefund,
        ShopifyTracking,
    )

    placed = await place_order(control, quantity=2)
    await fulfil_and_refund(client, placed, "Late")
    base = f"/shopify/v1/shops/{SHOP}/orders/{placed['id']}"
    order = (await client.get(base)).json()
    refunds = (await client.get(f"{base}/refunds")).json()

    def names(struct: type[msgspec.Struct]) -> set[str]:
        return {f.encode_name for f in msgspec.structs.fields(struct)}

    assert names(ShopifyOrderView) <= order.keys()
    assert names(ShopifyFulfillmentView) <= order["fulfillments"][0].keys()
    assert names(ShopifyTracking) <= order["fulfillments"][0]["tracking"][0].keys()
    assert names(ShopifyRefund) <= refunds["items"][0].keys()
    assert names(ShopifyMoney) <= refunds["items"][0]["total_refunded"].keys()
    view = msgspec.json.decode(msgspec.json.encode(order), type=ShopifyOrderView)
    assert view.fulfillments[0].tracking[0].company == "La Poste"
    decoded = msgspec.json.decode(msgspec.json.encode(refunds["items"]), type=list[ShopifyRefund])
    assert decoded[0].note == "Late"


async def test_order_reads_stay_cheap_in_query_cost(sandbox_url: str) -> None:
    # Shopify's requested cost is what the bucket must hold before the query runs.
    url = f"{sandbox_url}/shops/{SHOP}/admin/api/2026-10/graphql.json"
    costs = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for operation, document in (("StrataOrder", ORDER), ("StrataOrderRefunds", REFUNDS)):
            answer = await http.post(
                url,
                json={"query": document, "variables": {"id": "gid://shopify/Order/1"},
                      "operationName": operation},
                headers={"X-Shopify-Access-Token": TOKEN},
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            assert "errors" not in answer.json(), answer.text
            costs[operation] = answer.json()["extensions"]["cost"]["requestedQueryCost"]
    assert costs["StrataOrderRefunds"] <= 10
    # Fulfillments are a plain list: a handful of points on top of the lines and metafields.
    assert costs["StrataOrder"] <= 500
