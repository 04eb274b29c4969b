"""Business gauges on ``/metrics``, read from a real Redis at scrape time: two replicas of a
service report the same figures, and a Redis outage makes them absent, not stale."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from process_apis.orders.acknowledgements import RedisAcknowledgements
from process_apis.orders.exceptions import ExceptionStore
from process_apis.orders.metrics import orders_metrics
from process_apis.orders.schemas import BusinessImpact, OrderException
from shared.app import build_service_app
from shared.events import PermanentFailure, StreamWorker, publish
from tests.support.processes import free_port

pytestmark = pytest.mark.integration
SHOP = "metrics-eu.myshopify.com"


class Keys:
    def __init__(self) -> None:
        run = uuid.uuid4().hex[:10]
        self.stream = f"metrics:{run}:{{orders}}"
        self.awaiting = f"metrics:{run}:awaiting-ack"
        self.exceptions = f"metrics:{run}:exceptions"


def replica(redis_url: str, keys: Keys) -> Litestar:
    return build_service_app(
        service="orders",
        title="orders replica",
        version="1.0.0",
        description="a replica reporting business metrics",
        route_handlers=[],
        lifespan=[
            orders_metrics(
                redis_url,
                dead_letter_streams=[keys.stream],
                awaiting_key=keys.awaiting,
                exceptions_prefix=keys.exceptions,
            )
        ],
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def bury(redis: Redis, stream: str, count: int) -> None:
    """Put ``count`` orders through a stream worker whose handler refuses them for good."""

    async def refuse(entry: Any) -> None:
        raise PermanentFailure("no route for this country", kind="routing")

    worker = StreamWorker(redis, stream, "orders", refuse, block=0.05)
    await worker.ensure_group()
    for n in range(count):
        await publish(redis, stream, {"topic": "orders/create", "shop": SHOP, "body": f"{n}"})
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while await redis.xlen(f"{stream}:dead") < count:
                await asyncio.sleep(0.02)
    finally:
        worker.stop()
        await running


def exception(n: int) -> OrderException:
    now = time.time()
    return OrderException(
        id=f"ex{n}",
        state="open",
        kind="routing",
        error="no route",
        shop=SHOP,
        order_id=str(n),
        topic="orders/create",
        correlation_id=f"c{n}",
        created_at=now,
        updated_at=now,
        payload={},
        retry_history=[],
        impact=BusinessImpact(),
    )


async def test_two_replicas_report_the_orders_awaiting_acknowledgement_and_the_backlog(
    redis: Redis, redis_url: str
) -> None:
    keys = Keys()
    now = time.time()
    acks = RedisAcknowledgements(redis, keys.awaiting)
    # Three orders received, the oldest two minutes ago; one of them acknowledged since.
    await acks.awaiting(SHOP, "1001", at=now - 120)
    await acks.awaiting(SHOP, "1002", at=now - 30)
    await acks.awaiting(SHOP, "1003", at=now - 5)
    # A redelivery of the oldest does not make it younger.
    await acks.awaiting(SHOP, "1001", at=now)
    await acks.acknowledged(SHOP, "1002")
    await bury(redis, keys.stream, 2)
    store = ExceptionStore(redis, prefix=keys.exceptions)
    for n in range(3):
        await store.save(exception(n))
    await store.mark("ex0", "resolved")

    readings = []
    for app in (replica(redis_url, keys), replica(redis_url, keys)):
        async with AsyncTestClient(app) as client:
            response = await client.get("/metrics")
            assert response.status_code == 200
            readings.append(samples(response.text))
    first, second = readings
    assert first[("strata_orders_awaiting_ack", ())] == 2
    assert 119 <= first[("strata_orders_oldest_awaiting_ack_seconds", ())] < 150
    assert first[("strata_dead_letters", (("stream", keys.stream),))] == 2
    assert first[("strata_open_exceptions", ())] == 2
    for name in ("strata_orders_awaiting_ack", "strata_dead_letters", "strata_open_exceptions"):
        assert {k: v for k, v in first.items() if k[0] == name} == {
            k: v for k, v in second.items() if k[0] == name
        }


async def test_everything_acknowledged_reads_zero(redis: Redis, redis_url: str) -> None:
    keys = Keys()
    acks = RedisAcknowledgements(redis, keys.awaiting)
    await acks.awaiting(SHOP, "2001")
    await acks.acknowledged(SHOP, "2001")
    async with AsyncTestClient(replica(redis_url, keys)) as client:
        found = samples((await client.get("/metrics")).text)
    assert found[("strata_orders_awaiting_ack", ())] == 0
    assert found[("strata_orders_oldest_awaiting_ack_seconds", ())] == 0
    assert found[("strata_dead_letters", (("stream", keys.stream),))] == 0


async def test_without_redis_the_gauges_are_absent_and_metrics_still_answer() -> None:
    keys = Keys()
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with AsyncTestClient(replica(dead, keys)) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert "strata_http_requests_total" in response.text
    assert "strata_orders_awaiting_ack" not in response.text
    assert "strata_dead_letters" not in response.text
