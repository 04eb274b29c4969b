"""The orders process's Redis stores on a 3-master Redis Cluster through ``RedisCluster``:
the order lock with its fencing token, the fenced pipeline record, and the exception queue
whose records and indexes sit in different slots."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import RedisCluster as ClusterClient

from process_apis.orders.exceptions import ExceptionStore
from process_apis.orders.locks import RedisOrderLocks
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.ports import OrderLockLost
from process_apis.orders.schemas import BusinessImpact, OrderException
from tests.support.redis_cluster import RedisCluster, running_redis_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SHOP = "demo-eu.myshopify.com"


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with running_redis_cluster() as started:
        yield started


@pytest.fixture
async def client(cluster: RedisCluster) -> AsyncIterator[ClusterClient]:
    redis = ClusterClient.from_url(cluster.url, socket_timeout=5, socket_connect_timeout=2)
    yield redis
    await redis.aclose()


async def test_a_lock_holder_records_and_a_stale_holder_is_fenced_off(
    client: ClusterClient,
) -> None:
    prefix = f"test:{uuid.uuid4().hex[:8]}:orders"
    pipeline = PipelineStore(client, prefix)
    locks = RedisOrderLocks(client, ttl=5, prefix=prefix)
    async with locks.hold(SHOP, "1") as first:
        await pipeline.record(SHOP, "1", "received", state="received", fence=first)
    async with locks.hold(SHOP, "1") as second:
        assert second > first
        await pipeline.record(SHOP, "1", "posted", state="posted", fence=second)
    with pytest.raises(OrderLockLost):
        await pipeline.record(SHOP, "1", "late", state="received", fence=first)
    status = await pipeline.status(SHOP, "1")
    assert status is not None
    assert status.state == "posted"
    assert [s.step for s in status.steps] == ["received", "posted"]


def record(n: int, state: str = "open") -> OrderException:
    now = time.time() + n
    return OrderException(
        id=f"ex{n}",
        state=state,  # type: ignore[arg-type]
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


async def test_the_exception_queue_keeps_its_indexes_across_slots(client: ClusterClient) -> None:
    store = ExceptionStore(client, f"test:{uuid.uuid4().hex[:8]}:exceptions")
    records = [await store.open(record(n)) for n in range(6)]
    slots = {client.keyslot(store._doc(r.id)) for r in records}
    assert len(slots) > 1
    await store.mark("ex2", "replayed")
    await store.mark("ex4", "resolved")
    assert await store.count("open") == 4
    page, total = await store.page(state=None, shop=SHOP, kind=None, offset=0, limit=10)
    assert total == 6
    assert [r.id for r in page] == [f"ex{n}" for n in range(5, -1, -1)]
    opened, _ = await store.page(state="open", shop=None, kind=None, offset=0, limit=10)
    assert [r.id for r in opened] == ["ex5", "ex3", "ex1", "ex0"]
