"""Webhook ingress against a real redis-server: what is appended, what is refused."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from system_apis.shopify.app import create_app
from system_apis.shopify.fast_path import WebhookFastPath
from system_apis.shopify.webhook_routes import DUPLICATE_HEADER, ENTRY_HEADER
from tests.support.processes import RedisServer
from tests.unit.shopify.deliveries import (
    OTHER_SECRET,
    OTHER_SHOP,
    PREVIOUS_SECRET,
    SECRET,
    SHOP,
    headers,
    order_body,
    settings,
)

pytestmark = pytest.mark.integration

URL = "/shopify/v1/webhooks"


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:10]}:webhooks"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def client(redis_url: str, prefix: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(settings(prefix, redis_url=redis_url, webhook_max_body_bytes=8192))
    async with AsyncTestClient(app) as test_client:
        yield test_client


def orders(prefix: str) -> str:
    return f"{prefix}:{{orders}}"


async def test_signed_webhook_is_appended_with_every_field(
    client: AsyncTestClient[Litestar], redis: Redis, prefix: str
) -> None:
    body = order_body()
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    sent = headers(body, event_id="ev-1", webhook_id="wh-1", traceparent=trace)
    response = await client.post(URL, content=body, headers=sent)
    assert response.status_code == 200, response.text
    assert DUPLICATE_HEADER not in response.headers
    entries = await redis.xrange(orders(prefix))
    assert len(entries) == 1
    entry_id, fields = entries[0]
    assert response.headers[ENTRY_HEADER] == entry_id.decode()
    assert fields[b"body"] == body
    assert fields[b"topic"] == b"orders/create"
    assert fields[b"shop"] == SHOP.encode()
    assert fields[b"event_id"] == b"ev-1"
    assert fields[b"webhook_id"] == b"wh-1"
    assert fields[b"triggered_at"] == b"2026-05-01T10:00:00.000Z"
    assert fields[b"api_version"] == b"2026-10"
    # Spans are not recorded here (no exporter): the caller's context passes through as is.
    assert fields[b"traceparent"] == trace.encode()
    assert fields[b"received_at"].endswith(b"Z")


async def test_headers_without_the_x_prefix_are_accepted(
    client: AsyncTestClient[Litestar], redis: Redis, prefix: str
) -> None:
    body = order_body()
    response = await client.post(URL, content=body, headers=headers(body, prefixed=False))
    assert response.status_code == 200, response.text
    assert await redis.xlen(orders(prefix)) == 1


async def test_topics_go_to_their_family_stream(
    client: AsyncTestClient[Litestar], redis: Redis, prefix: str
) -> None:
    body = b'{"inventory_item_id": 1, "location_id": 2, "available": 5}'
    sent = headers(body, topic="inventory_levels/update")
    ok = await client.post(URL, content=body, headers=sent)
    assert ok.status_code == 200
    redact = b'{"shop_id": 1, "shop_domain": "demo-us.myshopify.com"}'
    sent = headers(redact, topic="shop/redact", shop=OTHER_SHOP, secret=OTHER_SECRET)
    assert (await client.post(URL, content=redact, headers=sent)).status_code == 200
    assert await redis.xlen(f"{prefix}:{{inventory}}") == 1
    assert await redis.xlen(f"{prefix}:{{compliance}}") == 1
    assert await redis.xlen(orders(prefix)) == 0


@pytest.mark.parametrize(
    ("case", "status", "slug"),
    [
        ("changed-after-signing", 401, "webhook-signature-invalid"),
        ("wrong-secret", 401, "webhook-signature-invalid"),
        ("other-shops-secret", 401, "webhook-signature-invalid"),
        ("no-hmac", 401, "webhook-signature-invalid"),
        ("garbage-hmac", 401, "webhook-signature-invalid"),
        ("unknown-shop", 401, "webhook-shop-unknown"),
        ("no-shop", 400, "webhook-header-missing"),
        ("no-topic", 400, "webhook-header-missing"),
        ("unknown-topic", 400, "webhook-topic-unsupported"),
        ("no-ids", 400, "webhook-header-missing"),
        ("not-json", 400, "webhook-body-malformed"),
        ("json-array", 400, "webhook-body-malformed"),
        ("compliance-forged", 401, "webhook-signature-invalid"),
    ],
)
async def test_refused_deliveries_append_nothing(
    client: AsyncTestClient[Litestar],
    redis: Redis,
    prefix: str,
    case: str,
    status: int,
    slug: str,
) -> None:
    body = order_body()
    sent = headers(body)
    if case == "changed-after-signing":
        body = body.replace(b"74.70", b"0.01")
    elif case == "wrong-secret":
        sent = headers(body, secret="not-the-secret")
    elif case == "other-shops-secret":
        sent = headers(body, secret=OTHER_SECRET)
    elif case == "no-hmac":
        del sent["X-Shopify-Hmac-Sha256"]
    elif case == "garbage-hmac":
        sent["X-Shopify-Hmac-Sha256"] = "not base64 at all!"
    elif case == "unknown-shop":
        sent = headers(body, shop="intruder.myshopify.com")
    elif case == "no-shop":
        del sent["X-Shopify-Shop-Domain"]
    elif case == "no-topic":
        del sent["X-Shopify-Topic"]
    elif case == "unknown-topic":
        sent = headers(body, topic="app/uninstalled")
    elif case == "no-ids":
        del sent["X-Shopify-Event-Id"], sent["X-Shopify-Webhook-Id"]
    elif case == "not-json":
        body = b"id=1&total=2"
        sent = headers(body)
    elif case == "json-array":
        body = b"[1, 2]"
        sent = headers(body)
    elif case == "compliance-forged":
        body = b'{"shop_id": 1}'
        sent = headers(body, topic="customers/redact", secret="forged")
    response = await client.post(URL, content=body, headers=sent)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(slug)
    for family in ("orders", "inventory", "compliance"):
        assert await redis.xlen(f"{prefix}:{{{family}}}") == 0
    assert await redis.keys(f"{prefix}:*") == []


async def test_oversized_body_is_refused_by_its_content_length(
    client: AsyncTestClient[Litestar], redis: Redis, prefix: str
) -> None:
    big = b'{"note": "' + b"x" * 9000 + b'"}'
    declared = await client.post(URL, content=big, headers=headers(big))
    assert declared.status_code == 413
    assert declared.json()["type"].endswith("webhook-body-too-large")
    assert await redis.xlen(orders(prefix)) == 0


async def test_three_deliveries_of_one_event_make_one_entry(
    client: AsyncTestClient[Litestar], redis: Redis, prefix: str
) -> None:
    body = order_body()
    answers = [
        await client.post(URL, content=body, headers=headers(body, event_id="ev-dup"))
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers.get(DUPLICATE_HEADER) for a in answers] == [None, "true", "true"]
    assert len({a.headers[ENTRY_HEADER] for a in answers}) == 1
    assert await redis.xlen(orders(prefix)) == 1
    metrics = (await client.get("/metrics")).text
    assert 'strata_webhooks_duplicates_total{topic="orders/create"} 2.0' in metrics
    assert 'strata_shopify_webhooks_accepted_total{topic="orders/create"} 1.0' in metrics


async def test_webhook_id_is_the_fallback_for_a_missing_event_id(
    client: AsyncTestClient[Litestar], redis: Redis, prefix: str
) -> None:
    body = order_body()
    sent = headers(body, webhook_id="wh-only")
    del sent["X-Shopify-Event-Id"]
    first = await client.post(URL, content=body, headers=sent)
    again = await client.post(URL, content=body, headers=sent)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers[DUPLICATE_HEADER] == "true"
    assert await redis.xlen(orders(prefix)) == 1


async def test_previous_secret_is_accepted_during_rotation(
    client: AsyncTestClient[Litestar], redis: Redis, prefix: str
) -> None:
    body = order_body()
    for secret in (SECRET, PREVIOUS_SECRET):
        response = await client.post(URL, content=body, headers=headers(body, secret=secret))
        assert response.status_code == 200, response.text
    assert await redis.xlen(orders(prefix)) == 2


async def test_rejections_are_counted_by_reason(client: AsyncTestClient[Litestar]) -> None:
    body = order_body()
    await client.post(URL, content=body, headers=headers(body, secret="forged"))
    metrics = (await client.get("/metrics")).text
    assert 'strata_shopify_webhooks_rejected_total{reason="webhook-signature-invalid"} 1.0' in (
        metrics
    )


@pytest.mark.parametrize("in_flight", [1, 3])
async def test_concurrent_webhooks_all_land_through_few_batches(
    redis: Redis, redis_url: str, prefix: str, in_flight: int
) -> None:
    app = create_app(settings(prefix, redis_url=redis_url, append_in_flight_max=in_flight))
    bodies = [order_body(order_id=n) for n in range(200)]
    # The app runs in this loop so that requests really overlap (the test client runs
    # them one after another in its own thread).
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as raw:
            answers = await asyncio.gather(
                *(raw.post(URL, content=b, headers=headers(b)) for b in bodies)
            )
        appender = app.state.appender
    assert [a.status_code for a in answers] == [200] * 200
    assert await redis.xlen(orders(prefix)) == 200
    assert appender.calls == 200
    assert appender.batches < 50
    entries = await redis.xrange(orders(prefix))
    assert {fields[b"body"] for _, fields in entries} == set(bodies)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
async def test_redis_down_answers_503_and_shopifys_retry_lands_once(prefix: str) -> None:
    # A volatile Redis on purpose: the restart loses what it held.
    server = RedisServer(extra_args=("--appendonly", "no")).start()
    try:
        app = create_app(settings(prefix, redis_url=server.url, redis_timeout=0.5))
        body = order_body()
        sent = headers(body, event_id="ev-retried")
        async with AsyncTestClient(app) as client:
            assert (await client.post(URL, content=body, headers=headers(body))).status_code == 200
            server.stop()
            down = await client.post(URL, content=body, headers=sent)
            assert down.status_code == 503
            assert down.headers["retry-after"] == "5"
            assert down.json()["type"].endswith("event-store-unavailable")
            server.start()
            retried = await client.post(URL, content=body, headers=sent)
            again = await client.post(URL, content=body, headers=sent)
            assert retried.status_code == 200, retried.text
            assert DUPLICATE_HEADER not in retried.headers
            assert again.headers[DUPLICATE_HEADER] == "true"
        check = Redis.from_url(server.url)
        try:
            # The restarted server kept nothing (no persistence): only the retry is there.
            entries = await check.xrange(orders(prefix))
            assert [fields[b"event_id"] for _, fields in entries] == [b"ev-retried"]
        finally:
            await check.aclose()
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


async def test_oversized_body_without_a_length_is_refused_while_reading(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    # A chunked body declares no length: the limit must hold while the body is read.
    app = create_app(settings(prefix, redis_url=redis_url, webhook_max_body_bytes=4096))
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as raw:

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(8):
                    yield b"y" * 1024

            sent = headers(b"{}")
            response = await raw.post(URL, content=chunks(), headers=sent)
            assert response.status_code == 413
            assert response.json()["type"].endswith("webhook-body-too-large")
    assert await redis.xlen(orders(prefix)) == 0


async def test_webhook_signed_by_the_sandboxs_signer_is_accepted(
    client: AsyncTestClient[Litestar], redis: Redis, prefix: str
) -> None:
    from sandbox.shopify.webhooks import sign as sandbox_sign

    body = order_body()
    sent = headers(body)
    sent["X-Shopify-Hmac-Sha256"] = sandbox_sign(SECRET, body)
    response = await client.post(URL, content=body, headers=sent)
    assert response.status_code == 200, response.text
    assert await redis.xlen(orders(prefix)) == 1


async def test_deliveries_are_counted_in_the_http_metrics_under_their_route(
    client: AsyncTestClient[Litestar],
) -> None:
    body = order_body()
    assert (await client.post(URL, content=body, headers=headers(body))).status_code == 200
    forged = await client.post(URL, content=body, headers=headers(body, secret="forged"))
    assert forged.status_code == 401
    metrics = (await client.get("/metrics")).text
    labels = 'method="POST",route="/shopify/v1/webhooks",service="shopify"'
    assert f'strata_http_requests_total{{{labels},status="200"}} 1.0' in metrics
    assert f'strata_http_requests_total{{{labels},status="401"}} 1.0' in metrics
    assert f"strata_http_request_duration_seconds_count{{{labels}}} 2.0" in metrics


async def test_the_documented_route_answers_alike_behind_the_router(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    # What the fast path does not take (here: everything, once it is taken out) reaches
    # the Litestar route, which must answer the same way.
    app = create_app(settings(prefix, redis_url=redis_url))
    fast_path = app.asgi_handler
    assert isinstance(fast_path, WebhookFastPath)
    assert fast_path.app is not None
    app.asgi_handler = fast_path.app
    async with AsyncTestClient(app) as client:
        body = order_body()
        sent = headers(body, event_id="ev-routed")
        first = await client.post(URL, content=body, headers=sent)
        again = await client.post(URL, content=body, headers=sent)
        forged = await client.post(URL, content=body, headers=headers(body, secret="forged"))
        document = (await client.get("/schema/openapi.json")).json()
    assert first.status_code == 200, first.text
    assert again.headers[DUPLICATE_HEADER] == "true"
    assert again.headers[ENTRY_HEADER] == first.headers[ENTRY_HEADER]
    assert forged.status_code == 401
    assert forged.json()["type"].endswith("webhook-signature-invalid")
    assert await redis.xlen(orders(prefix)) == 1
    operation = document["paths"][URL]["post"]
    assert operation["operationId"] == "receiveShopifyWebhook"
    assert operation["security"] == [{"shopifyWebhookHmac": []}]


async def test_other_methods_on_the_webhook_path_go_to_the_router(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get(URL)
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
