"""The Shopify system API's fulfillment routes against the Shopify sandbox (a real server) and
a real Redis: one fulfillment per shipment key, whatever happens to the first answer."""

from __future__ import annotations

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
from shared.problems import UpstreamTimeout
from system_apis.shopify.admin import AdminGraphQL
from system_apis.shopify.app import create_app
from system_apis.shopify.fulfillment_schemas import FulfillmentSend
from system_apis.shopify.fulfillments import (
    FulfillmentOrderNotOnOrder,
    FulfillmentSender,
    FulfillmentSendInFlight,
)
from system_apis.shopify.schemas import FulfillmentCreate
from system_apis.shopify.settings import ShopConfig, ShopifySettings
from tests.support.processes import child_env, free_port, wait_for_port
from tests.support.tokens import TokenMint

pytestmark = pytest.mark.integration

SHOP = "demo-eu.myshopify.com"
TOKEN = "shpat_sandbox_token"
TWO_PACKAGES = {
    "company": "DHL Express",
    "numbers": ["JD0146000001", "JD0146000002"],
    "urls": [
        "https://www.dhl.com/track?id=JD0146000001",
        "https://www.dhl.com/track?id=JD0146000002",
    ],
}


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", "sandbox.shopify.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ],
        env=child_env(STRATA_SANDBOX_API_VERSION="2026-04"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def shopify_settings(sandbox_url: str, redis_url: str) -> ShopifySettings:
    return ShopifySettings(
        shops={SHOP: ShopConfig(secret="unused", access_token=TOKEN)},
        redis_url=redis_url,
        admin_url=sandbox_url + "/shops/{shop}/admin/api/{version}/graphql.json",
    )


def create_test_app(settings: ShopifySettings, token_mint: TokenMint) -> Litestar:
    """The service as ``create_app`` builds it, trusting the test's token issuer."""
    return create_app(settings, auth=token_mint.settings())


@pytest.fixture
async def control(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url + "/_sandbox", timeout=10) as client:
        yield client


@pytest.fixture
async def client(
    sandbox_url: str, redis_url: str, token_mint: TokenMint
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_test_app(shopify_settings(sandbox_url, redis_url), token_mint)
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


async def shopify_order(control: httpx.AsyncClient, order_id: int) -> dict[str, Any]:
    response = await control.get(f"/shops/{SHOP}/orders/{order_id}")
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def shipment_key() -> str:
    return f"erp-eu:shipment:{uuid.uuid4()}"


def send_body(fo: dict[str, Any], quantity: int | None = None, **extra: Any) -> dict[str, Any]:
    group: dict[str, Any] = {"fulfillment_order_id": fo["id"]}
    if quantity is not None:
        line = fo["line_items"][0]
        group["lines"] = [{"fulfillment_order_line_id": line["id"], "quantity": quantity}]
    return {"fulfillment_orders": [group], **extra}


async def test_two_packages_make_one_fulfillment_and_a_retry_finds_it(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    placed = await place_order(control)
    fo = placed["fulfillment_orders"][0]
    url = f"/shopify/v1/shops/{SHOP}/orders/{placed['id']}/fulfillments"
    key = {"Idempotency-Key": shipment_key()}
    body = send_body(fo, tracking=TWO_PACKAGES, notify_customer=True)
    first = await client.post(url, json=body, headers=key)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["order_id"] == placed["id"]
    assert made["status"] == "SUCCESS"
    assert [(t["company"], t["number"], t["url"]) for t in made["tracking"]] == list(
        zip(["DHL Express"] * 2, TWO_PACKAGES["numbers"], TWO_PACKAGES["urls"], strict=True)
    )
    assert made["lines"] == [
        {"line_item_id": placed["line_items"][0]["id"], "sku": "STR-TEE-BLK-M", "quantity": 2}
    ]

    again = await client.post(url, json=body, headers=key)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == made["id"]
    order = await shopify_order(control, placed["id"])
    assert len(order["fulfillments"]) == 1
    assert order["fulfillments"][0]["tracking_numbers"] == TWO_PACKAGES["numbers"]
    assert order["fulfillment_status"] == "fulfilled"

    listed = await client.get(url)
    assert listed.status_code == 200, listed.text
    assert listed.json()["fulfillment_status"] == "FULFILLED"
    assert [f["id"] for f in listed.json()["items"]] == [made["id"]]

    other_body = await client.post(
        url, json=send_body(fo, tracking={"numbers": ["X1"]}), headers=key
    )
    assert other_body.status_code == 422, other_body.text
    assert other_body.json()["type"].endswith("idempotency-key-reused")


async def test_partial_shipments_update_tracking_and_cancel(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    placed = await place_order(control, quantity=3)
    fo = placed["fulfillment_orders"][0]
    base = f"/shopify/v1/shops/{SHOP}"
    url = f"{base}/orders/{placed['id']}/fulfillments"
    part = await client.post(
        url,
        json=send_body(fo, 1, tracking={"company": "UPS", "numbers": ["1ZWRONG"]}),
        headers={"Idempotency-Key": shipment_key()},
    )
    assert part.status_code == 201, part.text
    assert (await shopify_order(control, placed["id"]))["fulfillment_status"] == "partial"
    fulfillment_id = part.json()["id"]

    corrected = await client.post(
        f"{base}/fulfillments/{fulfillment_id}/tracking",
        json={
            "tracking": {
                "company": "UPS",
                "numbers": ["1Z999AA10123456784"],
                "urls": ["https://www.ups.com/track?tracknum=1Z999AA10123456784"],
            }
        },
        headers={"Idempotency-Key": shipment_key()},
    )
    assert corrected.status_code == 200, corrected.text
    assert [t["number"] for t in corrected.json()["tracking"]] == ["1Z999AA10123456784"]
    seen = (await shopify_order(control, placed["id"]))["fulfillments"][0]
    assert seen["tracking_numbers"] == ["1Z999AA10123456784"]
    assert seen["tracking_urls"] == ["https://www.ups.com/track?tracknum=1Z999AA10123456784"]

    over = await client.post(
        url, json=send_body(fo, 3), headers={"Idempotency-Key": shipment_key()}
    )
    assert over.status_code == 422, over.text
    assert over.json()["type"].endswith("shopify-user-errors")
    assert "2 remaining" in over.json()["errors"][0]["message"]

    cancel_key = {"Idempotency-Key": shipment_key()}
    cancelled = await client.post(
        f"{base}/fulfillments/{fulfillment_id}/cancel", headers=cancel_key
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    again = await client.post(
        f"{base}/fulfillments/{fulfillment_id}/cancel", headers={"Idempotency-Key": shipment_key()}
    )
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "CANCELLED"
    order = await shopify_order(control, placed["id"])
    assert order["fulfillment_status"] is None
    assert order["fulfillment_orders"][0]["line_items"][0]["fulfillable_quantity"] == 3

    rest = await client.post(url, json=send_body(fo), headers={"Idempotency-Key": shipment_key()})
    assert rest.status_code == 201, rest.text
    assert rest.json()["lines"][0]["quantity"] == 3
    assert (await shopify_order(control, placed["id"]))["fulfillment_status"] == "fulfilled"


async def test_bad_input_is_a_problem_not_a_shipment(
    client: AsyncTestClient[Litestar], control: httpx.AsyncClient
) -> None:
    placed = await place_order(control)
    other = await place_order(control)
    base = f"/shopify/v1/shops/{SHOP}"
    foreign = await client.post(
        f"{base}/orders/{placed['id']}/fulfillments",
        json=send_body(other["fulfillment_orders"][0]),
        headers={"Idempotency-Key": shipment_key()},
    )
    assert foreign.status_code == 422, foreign.text
    assert foreign.json()["type"].endswith("fulfillment-order-not-on-order")
    assert foreign.headers["content-type"].startswith("application/problem+json")
    missing = await client.post(
        f"{base}/orders/999999999/fulfillments",
        json=send_body(placed["fulfillment_orders"][0]),
        headers={"Idempotency-Key": shipment_key()},
    )
    assert missing.status_code == 404, missing.text
    no_key = await client.post(
        f"{base}/orders/{placed['id']}/fulfillments",
        json=send_body(placed["fulfillment_orders"][0]),
    )
    assert no_key.status_code == 400, no_key.text
    bad_url = await client.post(
        f"{base}/orders/{placed['id']}/fulfillments",
        json=send_body(placed["fulfillment_orders"][0], tracking={"urls": ["javascript:x"]}),
        headers={"Idempotency-Key": shipment_key()},
    )
    assert bad_url.status_code == 400, bad_url.text
    unknown = await client.get(f"{base}/fulfillments/999999999")
    assert unknown.status_code == 404, unknown.text
    allowed = await client.options(f"{base}/orders/{placed['id']}/fulfillments")
    assert set(allowed.headers["allow"].replace(" ", "").split(",")) == {"GET", "OPTIONS", "POST"}
    assert (await shopify_order(control, placed["id"]))["fulfillments"] == []


class LosesFulfillmentSends(httpx.AsyncBaseTransport):
    """Passes every call to the sandbox except ``fulfillmentCreate``, whose caller sees a
    timeout: after Shopify made the fulfillment (``reached``) or before the request got there.
    """

    def __init__(self, *, reached: bool) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.reached = reached
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if b"mutation StrataFulfillmentSend" not in request.content:
            return await self.inner.handle_async_request(request)
        self.lost += 1
        if self.reached:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        raise httpx.ReadTimeout("answer lost", request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def shipment(fo_id: int, **tracking: Any) -> FulfillmentSend:
    return msgspec.convert(
        {"fulfillment_orders": [{"fulfillment_order_id": fo_id}], "tracking": tracking or None},
        FulfillmentSend,
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as client:
        yield client


def sender(
    settings: ShopifySettings, http: httpx.AsyncClient, redis: Redis, grace: float
) -> FulfillmentSender:
    return FulfillmentSender(AdminGraphQL(settings, http, redis), redis, in_flight_grace=grace)


async def test_a_send_whose_answer_was_lost_is_found_not_sent_again(
    sandbox_url: str,
    redis_url: str,
    redis: Redis,
    http: httpx.AsyncClient,
    control: httpx.AsyncClient,
) -> None:
    settings = shopify_settings(sandbox_url, redis_url)
    lossy = LosesFulfillmentSends(reached=True)
    placed = await place_order(control)
    request = shipment(placed["fulfillment_orders"][0]["id"], company="DHL", numbers=["JD1", "JD2"])
    key = shipment_key()
    async with httpx.AsyncClient(transport=lossy) as lossy_http:
        with pytest.raises(UpstreamTimeout):
            await sender(settings, lossy_http, redis, 30).send(SHOP, placed["id"], request, key)
    assert lossy.lost == 1
    assert len((await shopify_order(control, placed["id"]))["fulfillments"]) == 1
    # The retry (another replica, a restarted worker) finds it rather than sending again,
    # even within the time the lost request could still have been running.
    healthy = sender(settings, http, redis, 30)
    found, created = await healthy.send(SHOP, placed["id"], request, key)
    assert created is False
    assert [t.number for t in found.tracking] == ["JD1", "JD2"]
    again, created = await healthy.send(SHOP, placed["id"], request, key)
    assert (again.id, created) == (found.id, False)
    assert len((await shopify_order(control, placed["id"]))["fulfillments"]) == 1


async def test_a_send_that_never_arrived_is_sent_once_its_time_is_up(
    sandbox_url: str,
    redis_url: str,
    redis: Redis,
    http: httpx.AsyncClient,
    control: httpx.AsyncClient,
) -> None:
    settings = shopify_settings(sandbox_url, redis_url)
    lossy = LosesFulfillmentSends(reached=False)
    placed = await place_order(control)
    request = shipment(placed["fulfillment_orders"][0]["id"])
    key = shipment_key()
    async with httpx.AsyncClient(transport=lossy) as lossy_http:
        with pytest.raises(UpstreamTimeout):
            await sender(settings, lossy_http, redis, 30).send(SHOP, placed["id"], request, key)
    assert (await shopify_order(control, placed["id"]))["fulfillments"] == []
    with pytest.raises(FulfillmentSendInFlight) as waiting:
        await sender(settings, http, redis, 30).send(SHOP, placed["id"], request, key)
    assert waiting.value.status == 409
    made, created = await sender(settings, http, redis, 0).send(SHOP, placed["id"], request, key)
    assert created is True
    again, created = await sender(settings, http, redis, 0).send(SHOP, placed["id"], request, key)
    assert (again.id, created) == (made.id, False)
    assert len((await shopify_order(control, placed["id"]))["fulfillments"]) == 1


async def test_the_order_less_create_body_is_sent_once_per_key(
    sandbox_url: str,
    redis_url: str,
    redis: Redis,
    http: httpx.AsyncClient,
    control: httpx.AsyncClient,
) -> None:
    settings = shopify_settings(sandbox_url, redis_url)
    placed = await place_order(control)
    body = msgspec.convert(
        {
            "fulfillment_orders": [{"fulfillment_order_id": placed["fulfillment_orders"][0]["id"]}],
            "tracking": {"company": "La Poste", "numbers": ["6A1", "6A2"]},
        },
        FulfillmentCreate,
    )
    key = shipment_key()
    first, created = await sender(settings, http, redis, 30).send_fulfillment_create(
        SHOP, body, key
    )
    assert created is True
    assert [t.number for t in first.tracking] == ["6A1", "6A2"]
    again, created = await sender(settings, http, redis, 30).send_fulfillment_create(
        SHOP, body, key
    )
    assert (again.id, created) == (first.id, False)
    assert len((await shopify_order(control, placed["id"]))["fulfillments"]) == 1
    unknown = msgspec.convert(
        {"fulfillment_orders": [{"fulfillment_order_id": 1}]}, FulfillmentCreate
    )
    with pytest.raises(FulfillmentOrderNotOnOrder):
        await sender(settings, http, redis, 30).send_fulfillment_create(SHOP, unknown, key + "x")
