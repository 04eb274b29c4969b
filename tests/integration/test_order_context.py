"""The orders process's order context and customer orders over real Redis, a real Tryton ERP
behind the real ERP system API, and a Shopify system API stand-in (which can fail or be slow)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from process_apis.orders.app import create_app as create_orders_app
from process_apis.orders.context import ContextSettings, index_customer_order
from process_apis.orders.exceptions import ExceptionStore, exception_id
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.schemas import BusinessImpact, OrderException
from process_apis.orders.settings import OrdersSettings
from sandbox.tryton import TrytonServer, ship_order
from shared.models import SalesOrderDraft
from system_apis.erp.app import create_app as create_erp_app
from system_apis.erp.settings import ErpSettings
from tests.support.processes import free_port
from tests.support.tokens import TokenMint
from tests.unit.service_desk.stand_ins import ShopifyStandIn, serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SHOP = "ctx-eu.myshopify.com"


@pytest.fixture(scope="module")
def erp_url(tryton_eu: TrytonServer, redis_server: Any, token_mint: TokenMint) -> Iterator[str]:
    settings = ErpSettings(
        instance="eu",
        redis_url=redis_server.url,
        tryton_url=tryton_eu.url,
        tryton_database=tryton_eu.database,
        tryton_user=tryton_eu.user,
        tryton_password=tryton_eu.password,
        read_timeout=20,
    )
    with serving(create_erp_app(settings, auth=token_mint.settings())) as url:
        yield url


@pytest.fixture(scope="module")
def shopify() -> ShopifyStandIn:
    return ShopifyStandIn()


@pytest.fixture(scope="module")
def shopify_url(shopify: ShopifyStandIn) -> Iterator[str]:
    with serving(shopify.app()) as url:
        yield url


@pytest.fixture(autouse=True)
def shopify_healthy(shopify: ShopifyStandIn) -> None:
    shopify.status, shopify.delay = 200, 0.0


def orders_settings(
    redis_url: str, erp: str, shopify: str, token: str, context: ContextSettings | None = None
) -> OrdersSettings:
    return OrdersSettings(
        redis_url=redis_url,
        erp_instances={"eu": erp},
        shopify_api_url=shopify,
        run_workers=False,
        service_token=token,
        context=context or ContextSettings(),
    )


@contextlib.asynccontextmanager
async def orders_api(
    redis_url: str,
    erp_url: str,
    shopify_url: str,
    token_mint: TokenMint,
    context: ContextSettings | None = None,
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """The orders process API (no workers), called with an ``orders:read`` token."""
    token = token_mint.token("erp:read", "shopify:read", client_id="orders")
    app = create_orders_app(
        orders_settings(redis_url, erp_url, shopify_url, token, context),
        auth=token_mint.settings(),
    )
    async with AsyncTestClient(app=app, timeout=30) as client:
        client.headers.update(token_mint.headers("orders:read"))
        yield client


@pytest.fixture
async def orders(
    redis_url: str, erp_url: str, shopify_url: str, token_mint: TokenMint
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with orders_api(redis_url, erp_url, shopify_url, token_mint) as client:
        yield client


class PlacedOrder:
    def __init__(self, order_id: int | str, erp: dict[str, Any], email: str) -> None:
        self.order_id = order_id
        self.erp = erp
        self.email = email


def draft(order_id: int | str, email: str) -> dict[str, Any]:
    return {
        "external_reference": f"shopify:{SHOP}:{order_id}",
        "currency": "EUR",
        "customer": {"email": email, "name": "Ada Lovelace"},
        "lines": [{"sku": "TOTE-NAT", "quantity": 2, "unit_price": "12.00"}],
        "shipping_address": {
            "name": "Ada Lovelace",
            "street": "1 Rue X",
            "city": "Lyon",
            "postal_code": "69001",
            "country": "FR",
        },
    }


async def place_order(
    erp_url: str,
    redis_url: str,
    token_mint: TokenMint,
    shopify: ShopifyStandIn,
    *,
    record_pipeline: bool = True,
    order_id: int | str | None = None,
) -> PlacedOrder:
    """An order as the pipeline leaves it: in Tryton, recorded, indexed, and (a numeric id,
    so a Shopify order) in Shopify."""
    if order_id is None:
        order_id = int(time.time() * 1000) % 10**12 + uuid.uuid4().int % 1000
    email = f"ada-{uuid.uuid4().hex[:12]}@example.com"
    body = draft(order_id, email)
    async with httpx.AsyncClient(base_url=erp_url, timeout=30) as erp:
        response = await erp.post(
            "/erp/v1/sales-orders",
            json=body,
            headers={
                **token_mint.headers("erp:write"),
                "Idempotency-Key": f"ctx-{uuid.uuid4()}",
            },
        )
    assert response.status_code == 201, response.text
    sales_order = response.json()
    redis = Redis.from_url(redis_url)
    try:
        if record_pipeline:
            pipeline = PipelineStore(redis)
            await pipeline.record(SHOP, str(order_id), "received", state="received")
            await pipeline.record(
                SHOP, str(order_id), "routed", state="routed", detail="eu", erp_instance="eu"
            )
            await pipeline.record(
                SHOP,
                str(order_id),
                "posted",
                state="posted",
                erp_order_id=sales_order["id"],
                erp_order_number=sales_order["number"] or "",
            )
        await index_customer_order(
            redis, SHOP, str(order_id), SalesOrderDraft(**_draft_struct(body))
        )
    finally:
        await redis.aclose()
    if isinstance(order_id, str):
        return PlacedOrder(order_id, sales_order, email)  # a channel order: not in Shopify
    shopify.add_order(
        SHOP,
        order_id,
        name=f"#{order_id % 100000}",
        email=email,
        created_at="2026-03-01T09:00:00Z",
        tracking={"number": "1Z999", "url": "https://www.ups.com/track?tracknum=1Z999",
                  "company": "UPS"},
    )  # fmt: skip
    shopify.refunds[(SHOP, order_id)] = [
        {"id": 55, "created_at": "2026-03-03T10:00:00Z", "note": "damaged",
         "total_refunded": {"amount": "12.00", "currency": "EUR"}}
    ]  # fmt: skip
    return PlacedOrder(order_id, sales_order, email)


def _draft_struct(body: dict[str, Any]) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(msgspec.convert(body, SalesOrderDraft))


@pytest.fixture
async def placed(
    erp_url: str, redis_url: str, token_mint: TokenMint, shopify: ShopifyStandIn
) -> PlacedOrder:
    return await place_order(erp_url, redis_url, token_mint, shopify)


async def test_context_gathers_every_section_and_a_timeline(
    orders, placed: PlacedOrder, tryton_eu: TrytonServer
) -> None:
    ship_order(tryton_eu, placed.erp["id"], force=True)
    response = await orders.get(f"/orders/v1/orders/{SHOP}/{placed.order_id}/context")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["complete"] is True, body
    assert body["pipeline"]["pipeline"]["state"] == "posted"
    assert body["erp_order"]["status"] == "ok"
    assert body["erp_order"]["instance"] == "eu"
    assert body["erp_order"]["order"]["number"] == placed.erp["number"]
    assert body["shipments"]["items"], "Tryton shipped the order"
    assert body["shipments"]["items"][0]["state"] == "done"
    assert body["shopify_order"]["order"]["email"] == placed.email
    assert body["refunds"]["items"][0]["id"] == 55
    kinds = [e["kind"] for e in body["timeline"]]
    assert {"placed", "step", "erp-order", "refund", "fulfillment"} <= set(kinds)
    instants = [e["at"] for e in body["timeline"]]
    assert instants == sorted(instants)


async def test_shopify_down_gives_a_partial_context_not_an_error(
    orders, placed: PlacedOrder, shopify: ShopifyStandIn
) -> None:
    shopify.status = 503
    response = await orders.get(f"/orders/v1/orders/{SHOP}/{placed.order_id}/context")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["complete"] is False
    assert body["shopify_order"]["status"] == "unavailable"
    assert "503" in body["shopify_order"]["reason"]
    assert body["refunds"]["status"] == "unavailable"
    assert body["erp_order"]["status"] == "ok"
    assert body["erp_order"]["order"]["id"] == placed.erp["id"]


async def test_a_slow_upstream_is_cut_at_its_timeout(
    redis_url: str,
    erp_url: str,
    shopify_url: str,
    token_mint: TokenMint,
    placed: PlacedOrder,
    shopify: ShopifyStandIn,
) -> None:
    context = ContextSettings(upstream_timeout=0.3)
    async with orders_api(redis_url, erp_url, shopify_url, token_mint, context) as orders:
        shopify.delay = 2.0
        started = time.perf_counter()
        response = await orders.get(f"/orders/v1/orders/{SHOP}/{placed.order_id}/context")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    body = response.json()
    assert body["shopify_order"]["status"] == "unavailable"
    assert "0.3 s" in body["shopify_order"]["reason"]
    assert body["erp_order"]["status"] == "ok"
    assert elapsed < 1.5


async def test_erp_down_marks_the_erp_sections_unavailable(
    redis_url: str, shopify_url: str, placed: PlacedOrder, token_mint: TokenMint
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    app = create_orders_app(
        orders_settings(redis_url, dead, shopify_url, "unused"), auth=token_mint.settings()
    )
    async with AsyncTestClient(app=app, timeout=30) as client:
        response = await client.get(
            f"/orders/v1/orders/{SHOP}/{placed.order_id}/context",
            headers=token_mint.headers("orders:read"),
        )
    assert response.status_code == 200, response.text
    body = response.json()
    for name in ("erp_order", "shipments", "invoices", "credit_notes"):
        assert body[name]["status"] == "unavailable", name
        assert body[name]["reason"].startswith("erp eu"), body[name]["reason"]
    assert body["shopify_order"]["status"] == "ok"
    assert body["pipeline"]["pipeline"]["erp_order_id"] == placed.erp["id"]


async def test_erp_order_is_found_by_reference_when_the_pipeline_lost_track(
    orders, erp_url: str, redis_url: str, token_mint: TokenMint, shopify: ShopifyStandIn
) -> None:
    placed = await place_order(erp_url, redis_url, token_mint, shopify, record_pipeline=False)
    response = await orders.get(f"/orders/v1/orders/{SHOP}/{placed.order_id}/context")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pipeline"]["pipeline"] is None
    assert body["erp_order"]["order"]["id"] == placed.erp["id"]
    assert body["erp_order"]["instance"] == "eu"


async def test_open_exceptions_are_listed_without_their_payload(
    orders, placed: PlacedOrder, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    now = time.time()
    record = OrderException(
        id=exception_id(SHOP, str(placed.order_id), "orders/cancelled"),
        state="open",
        kind="cancel-after-shipment",
        error="cancelled in Shopify but already shipped",
        shop=SHOP,
        order_id=str(placed.order_id),
        topic="orders/cancelled",
        correlation_id="c-1",
        created_at=now,
        updated_at=now,
        payload={"body": "{}"},
        retry_history=[],
        impact=BusinessImpact(),
    )
    await ExceptionStore(redis).save(record)
    await redis.aclose()
    body = (await orders.get(f"/orders/v1/orders/{SHOP}/{placed.order_id}/context")).json()
    [found] = body["exceptions"]["items"]
    assert found["kind"] == "cancel-after-shipment"
    assert "payload" not in found


async def test_unknown_order_is_a_404_problem(orders) -> None:
    response = await orders.get(f"/orders/v1/orders/{SHOP}/999999999999/context")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/order-not-found")


async def test_an_order_id_with_a_hash_is_a_404_problem_not_a_500(orders) -> None:
    """``#`` reaches the ERP's by-reference lookup percent-encoded, as data."""
    response = await orders.get(f"/orders/v1/orders/{SHOP}/RL%2390g/context")
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/order-not-found")


async def test_an_order_with_a_hash_in_its_id_is_found_in_the_erp(
    orders, erp_url: str, redis_url: str, token_mint: TokenMint, shopify: ShopifyStandIn
) -> None:
    order_id = f"RL#{uuid.uuid4().hex[:8]}g"
    placed = await place_order(
        erp_url, redis_url, token_mint, shopify, record_pipeline=False, order_id=order_id
    )
    path = f"/orders/v1/orders/{SHOP}/{quote(order_id, safe='')}/context"
    response = await orders.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order_id"] == order_id
    assert body["external_reference"] == f"shopify:{SHOP}:{order_id}"
    assert body["erp_order"]["status"] == "ok"
    assert body["erp_order"]["order"]["id"] == placed.erp["id"]
    for name in ("shipments", "invoices", "credit_notes"):
        assert body[name]["status"] == "ok", body[name]
    # Not a Shopify order id: Shopify is not asked, and its sections are empty, not failed.
    assert body["shopify_order"]["status"] == "ok"
    assert body["shopify_order"]["order"] is None
    assert body["refunds"]["status"] == "ok"


async def test_the_pipelines_erp_order_id_is_read_whatever_it_holds(
    orders, erp_url: str, redis_url: str, token_mint: TokenMint, shopify: ShopifyStandIn
) -> None:
    """An ERP order id the pipeline recorded goes into every ERP path as one segment."""
    order_id = f"RL#{uuid.uuid4().hex[:8]}g"
    redis = Redis.from_url(redis_url)
    await PipelineStore(redis).record(
        SHOP, order_id, "posted", state="posted", erp_instance="eu", erp_order_id="9/..#?x"
    )
    await redis.aclose()
    response = await orders.get(f"/orders/v1/orders/{SHOP}/{quote(order_id, safe='')}/context")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pipeline"]["pipeline"]["erp_order_id"] == "9/..#?x"
    # The ERP has no such order: the section is served empty, not as a failure.
    assert body["erp_order"]["status"] == "ok"
    assert body["erp_order"]["order"] is None


@pytest.mark.parametrize(
    ("shop", "order_id", "status"),
    [
        # Characters an order id may hold (channel orders take the same pattern): the
        # systems are asked, with every identifier as data, and know no such order.
        (SHOP, "%23", 404),  # "#"
        (SHOP, "RL%2390g%23", 404),
        (SHOP, "%2E%2E", 404),  # ".." as an order id, which is no path segment
        (SHOP, "%2E", 404),
        (SHOP, "a%23%2E%2E", 404),
        ("%2E%2E", "1", 404),  # a shop that is no path segment, with a Shopify order id
        ("%2E", "1", 404),
        # Characters no order id can hold: refused as malformed before any system is asked.
        (SHOP, "%25", 400),  # "%"
        (SHOP, "a%20b", 400),
        (SHOP, "%C3%BCnic%C3%B8de", 400),
        (SHOP, "%D9%A1%D9%A2", 400),  # Arabic-Indic digits, which str.isdigit takes
        (SHOP, "1%3F", 400),
    ],
)
async def test_odd_identifiers_get_a_problem_never_a_500(
    orders, shop: str, order_id: str, status: int
) -> None:
    response = await orders.get(f"/orders/v1/orders/{shop}/{order_id}/context")
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if status == 404:
        assert response.json()["type"].endswith("/order-not-found")


async def test_context_needs_the_orders_read_scope(orders, token_mint: TokenMint) -> None:
    path = f"/orders/v1/orders/{SHOP}/1/context"
    assert (await orders.get(path, headers={"Authorization": ""})).status_code == 401
    other = token_mint.headers("orders:write")
    assert (await orders.get(path, headers=other)).status_code == 403


async def test_customer_orders_come_from_the_index_with_pipeline_state(
    orders, redis_url: str
) -> None:
    email = f"grace-{uuid.uuid4().hex[:8]}@Example.com"
    redis = Redis.from_url(redis_url)
    for i, shop in enumerate(["a.myshopify.com", "b.myshopify.com", "a.myshopify.com"]):
        order = SalesOrderDraft(
            **_draft_struct(
                {
                    **draft(1000 + i, email),
                    "external_reference": f"shopify:{shop}:{1000 + i}",
                    "ordered_at": f"2026-01-0{i + 1}T10:00:00Z",
                }
            )
        )
        await index_customer_order(redis, shop, str(1000 + i), order)
        await index_customer_order(redis, shop, str(1000 + i), order)  # a repeat is harmless
    await PipelineStore(redis).record(
        "a.myshopify.com", "1002", "posted", state="posted", erp_instance="eu",
        erp_order_id="77", erp_order_number="SO-77",
    )  # fmt: skip
    await redis.aclose()

    everything = (await orders.get(f"/orders/v1/customers/{email.upper()}/orders")).json()
    assert everything["total"] == 3
    assert [o["order_id"] for o in everything["items"]] == ["1002", "1001", "1000"]
    assert everything["items"][0]["erp_order_number"] == "SO-77"
    assert everything["items"][0]["total"] == "24.00"

    mine = await orders.get(
        f"/orders/v1/customers/{email}/orders",
        params={"shop": "a.myshopify.com", "limit": 1},
    )
    page = mine.json()
    assert page["total"] == 2
    assert [o["order_id"] for o in page["items"]] == ["1002"]
    assert page["next_offset"] == 1
    assert all(o["shop"] == "a.myshopify.com" for o in page["items"])

    nobody = (await orders.get("/orders/v1/customers/nobody@example.com/orders")).json()
    assert nobody["items"] == []
    assert nobody["total"] == 0
