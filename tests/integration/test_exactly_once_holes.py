"""Exactly-once without holes, against a real Tryton and a real Redis.

A posting interrupted between Tryton's create and confirm leaves a draft or a quotation; the
next posting of the same order (through the ERP system API's service) completes that sale.
An order lock holder that outlived its lease cannot record over the holder that came after
it. A channel order can't claim a Shopify order's reference.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from process_apis.orders.app import create_app as create_orders_app
from process_apis.orders.locks import RedisOrderLocks
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.ports import OrderLockLost
from process_apis.orders.settings import OrdersSettings
from sandbox.tryton import DEMO_CUSTOMERS, DEMO_PRODUCTS, TrytonServer
from shared.idempotency import IdempotencyStore
from shared.models import OrderLine, OrderStatus, SalesOrderDraft
from shared.problems import UpstreamTimeout
from system_apis.erp.adapters.tryton import TrytonAdapter
from system_apis.erp.service import ErpService
from tests.support.tokens import TokenMint

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PRICES_EUR = {v.sku: p.price("EUR") for p in DEMO_PRODUCTS for v in p.variants}
POSTED = frozenset({OrderStatus.CONFIRMED, OrderStatus.PROCESSING})


@pytest.fixture
async def erp(tryton_eu: TrytonServer) -> AsyncIterator[TrytonAdapter]:
    adapter = TrytonAdapter(httpx.AsyncClient(), tryton_eu.settings())
    try:
        yield adapter
    finally:
        await adapter.aclose()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def a_draft(sku: str = "TOTE-NAT", quantity: int = 1) -> SalesOrderDraft:
    return SalesOrderDraft(
        external_reference=f"shopify:holes.myshopify.com:{uuid.uuid4().int % 10**12}",
        currency="EUR",
        customer=DEMO_CUSTOMERS[0],
        lines=[OrderLine(sku=sku, quantity=quantity, unit_price=PRICES_EUR[sku])],
        ordered_at=dt.datetime.now(dt.UTC),
    )


def interrupt_at(
    erp: TrytonAdapter, monkeypatch: pytest.MonkeyPatch, method: str
) -> list[tuple[str, str]]:
    """Make ``sale.sale.<method>`` time out before it reaches Tryton; the calls made are listed."""
    real = erp.rpc.execute
    calls: list[tuple[str, str]] = []

    async def execute(model: str, name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((model, name))
        if (model, name) == ("sale.sale", method):
            raise UpstreamTimeout(f"{model}.{name}: no answer")
        return await real(model, name, *args, **kwargs)

    monkeypatch.setattr(erp.rpc, "execute", execute)
    return calls


async def sales_with(erp: TrytonAdapter, reference: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await erp.rpc.execute(
        "sale.sale", "search_read", [("reference", "=", reference)], 0, None, None, ["state"]
    )
    return rows


@pytest.mark.parametrize(
    ("stopped_at", "left"),
    [("quote", OrderStatus.DRAFT), ("confirm", OrderStatus.QUOTED)],
    ids=["draft", "quotation"],
)
async def test_the_adapter_completes_a_sale_left_unconfirmed(
    erp: TrytonAdapter, monkeypatch: pytest.MonkeyPatch, stopped_at: str, left: OrderStatus
) -> None:
    draft = a_draft()
    with monkeypatch.context() as patch:
        interrupt_at(erp, patch, stopped_at)
        with pytest.raises(UpstreamTimeout):
            await erp.create_sales_order(draft)
    half_made = await erp.find_sales_order(draft.external_reference)
    assert half_made is not None
    assert half_made.status == left

    order = await erp.confirm_sales_order(half_made.id, draft)

    assert order.id == half_made.id
    assert order.status in POSTED
    assert order.number
    assert [line.sku for line in order.lines] == ["TOTE-NAT"]
    [sale] = await sales_with(erp, draft.external_reference)
    assert sale["id"] == int(order.id)
    assert sale["state"] in ("confirmed", "processing")


@pytest.mark.parametrize("stopped_at", ["quote", "confirm"], ids=["draft", "quotation"])
async def test_posting_through_the_erp_service_resumes_the_half_made_sale(
    erp: TrytonAdapter, redis: Redis, monkeypatch: pytest.MonkeyPatch, stopped_at: str
) -> None:
    service = ErpService(erp, IdempotencyStore(redis, f"holes-{uuid.uuid4().hex}"), "eu")
    draft = a_draft("MUG-STONE-350", 2)
    # A timed-out post keeps the reference locked for this long (60 s in service).
    monkeypatch.setattr("system_apis.erp.service.POST_LOCK_SECONDS", 1.0)
    with monkeypatch.context() as patch:
        interrupt_at(erp, patch, stopped_at)
        with pytest.raises(UpstreamTimeout):
            await service.post_sales_order(draft)
    [left] = await sales_with(erp, draft.external_reference)
    assert left["state"] in ("draft", "quotation")

    started = time.monotonic()
    posted = await service.post_sales_order(draft)
    # The retry waited for the timed-out post's lock to lapse: the ERP might still have been
    # committing that post's create.
    assert time.monotonic() - started >= 0.5
    again = await service.post_sales_order(draft)

    assert posted.created
    assert posted.order.id == str(left["id"])
    assert posted.order.status in POSTED
    assert (again.created, again.order.id) == (False, posted.order.id)
    [sale] = await sales_with(erp, draft.external_reference)
    assert sale["state"] in ("confirmed", "processing")


async def test_confirming_a_confirmed_sale_leaves_it_as_it_stands(
    erp: TrytonAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = a_draft()
    order = await erp.create_sales_order(draft)
    calls = interrupt_at(erp, monkeypatch, "no-such-method")

    again = await erp.confirm_sales_order(order.id, draft)

    assert again.id == order.id
    assert again.status in POSTED
    assert ("sale.sale", "quote") not in calls
    assert ("sale.sale", "confirm") not in calls


# -- fencing tokens on the order lock --------------------------------------------------------


async def test_a_holder_that_outlived_its_lease_cannot_record(redis: Redis) -> None:
    prefix = f"holes-{uuid.uuid4().hex}"
    locks = RedisOrderLocks(redis, ttl=0.2, prefix=prefix)
    pipeline = PipelineStore(redis, prefix=prefix)
    shop, order_id = "demo-eu.myshopify.com", "1001"

    async with locks.hold(shop, order_id) as first:
        await pipeline.record(shop, order_id, "routed", state="routed", fence=first)
        await asyncio.sleep(0.4)  # a pause longer than the lease: the lock expires
        async with locks.hold(shop, order_id) as second:
            assert second > first
            await pipeline.record(
                shop, order_id, "posted", state="posted", fence=second, erp_order_id="7"
            )
        with pytest.raises(OrderLockLost):
            await pipeline.record(
                shop, order_id, "posted", state="posted", fence=first, erp_order_id="6"
            )

    summary = await pipeline.summary(shop, order_id)
    assert (summary["state"], summary["erp_order_id"]) == ("posted", "7")
    status = await pipeline.status(shop, order_id)
    assert status is not None
    assert [s.step for s in status.steps] == ["routed", "posted"]


async def test_fencing_tokens_grow_per_order(redis: Redis) -> None:
    locks = RedisOrderLocks(redis, ttl=5, prefix=f"holes-{uuid.uuid4().hex}")
    tokens = []
    for _ in range(3):
        async with locks.hold("shop", "1") as token:
            tokens.append(token)
    async with locks.hold("shop", "2") as other:
        pass
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 3
    assert other == 1


async def test_records_without_a_fence_are_not_checked(redis: Redis) -> None:
    prefix = f"holes-{uuid.uuid4().hex}"
    locks = RedisOrderLocks(redis, ttl=5, prefix=prefix)
    pipeline = PipelineStore(redis, prefix=prefix)
    async with locks.hold("shop", "1"):
        pass
    # Replays and dead letters record outside the lock.
    await pipeline.record("shop", "1", "replayed", state="received")
    assert (await pipeline.summary("shop", "1"))["state"] == "received"


# -- a channel's own reference namespace, over HTTP ------------------------------------------


@pytest.fixture
async def orders_api(redis_url: str, token_mint: TokenMint) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = OrdersSettings(
        redis_url=redis_url,
        erp_instances={"eu": "http://127.0.0.1:9"},  # never called: no workers run
        run_workers=False,
        service_token=token_mint.token("erp:write", client_id="orders"),
    )
    app = create_orders_app(settings, auth=token_mint.settings())
    async with AsyncTestClient(app=app, timeout=30) as client:
        client.headers.update(token_mint.headers("orders:write", "orders:read"))
        yield client


def channel_order(order_id: str, reference: str) -> dict[str, Any]:
    return {
        "channel": "pos.store-12",
        "order_id": order_id,
        "order": {
            "external_reference": reference,
            "currency": "EUR",
            "customer": {"email": "grace@example.com", "name": "Grace Hopper"},
            "lines": [{"sku": "TOTE-NAT", "quantity": 1, "unit_price": "12.00"}],
        },
    }


async def test_a_channel_order_claiming_a_shopify_reference_is_a_422_problem(
    orders_api: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    order_id = uuid.uuid4().hex[:12]
    response = await orders_api.post(
        "/orders/v1/orders",
        json=channel_order(order_id, "shopify:demo-eu.myshopify.com:1001"),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/channel-reference-refused")
    assert [e["field"] for e in problem["errors"]] == ["order.external_reference"]
    status = await orders_api.get(f"/orders/v1/orders/pos.store-12/{order_id}")
    assert status.status_code == 404  # nothing entered the pipeline


async def test_a_channel_order_is_queued_under_its_channels_reference(
    orders_api: AsyncTestClient,  # type: ignore[type-arg]
    redis: Redis,
) -> None:
    order_id = uuid.uuid4().hex[:12]
    response = await orders_api.post(
        "/orders/v1/orders",
        json=channel_order(order_id, "receipt-77"),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 202, response.text
    entry_id = response.json()["entry_id"]
    stream = orders_api.app.state.orders.stream.stream_for("pos.store-12")
    [(_, fields)] = await redis.xrange(stream, entry_id, entry_id)
    assert fields[b"order_id"] == order_id.encode()
    body = msgspec.json.decode(fields[b"body"])
    assert body["external_reference"] == f"channel:pos.store-12:{order_id}"
