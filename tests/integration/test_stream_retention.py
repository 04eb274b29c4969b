"""Stream retention against a real redis-server (and a Redis Cluster): entries every consumer
group acknowledged and older than the retention go; nothing a group still needs does."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from redis.asyncio import RedisCluster as ClusterClient

from shared.events import Entry, StreamWorker, stream_keys
from shared.retention import StreamTrimmer
from shared.streams import FAMILIES, ORDERS, WebhookStreams
from system_apis.shopify.app import create_app, stream_trimmer
from tests.support.redis_cluster import RedisCluster, running_redis_cluster
from tests.unit.shopify.deliveries import headers, order_body, settings

pytestmark = pytest.mark.integration

DAY = 24 * 3600
WEEK = 7 * DAY


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def stream() -> str:
    return f"test:{uuid.uuid4().hex[:10]}:webhooks:{{orders}}"


async def add_old(redis: Redis | ClusterClient, stream: str, count: int, age: float) -> list[str]:
    """``count`` entries appended ``age`` seconds ago (their ids carry the time)."""
    start = int((time.time() - age) * 1000)
    ids = []
    for n in range(count):
        entry_id = await redis.xadd(stream, {"n": str(n)}, id=f"{start}-{n}")
        ids.append(entry_id if isinstance(entry_id, str) else entry_id.decode())
    return ids


async def add_new(redis: Redis | ClusterClient, stream: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        entry_id = await redis.xadd(stream, {"n": f"new-{n}"})
        ids.append(entry_id if isinstance(entry_id, str) else entry_id.decode())
    return ids


async def read(redis: Redis | ClusterClient, stream: str, group: str, count: int) -> list[str]:
    """Deliver ``count`` new entries to ``group`` (they become pending) and return their ids."""
    reply: Any = await redis.xreadgroup(group, "c1", {stream: ">"}, count=count)
    entries: Any = reply[0][1] if reply else []
    return [_text(entry_id) for entry_id, _ in entries]


async def ids(redis: Redis | ClusterClient, stream: str) -> list[str]:
    entries: Any = await redis.xrange(stream)
    return [_text(entry_id) for entry_id, _ in entries]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def test_acknowledged_old_entries_go_pending_and_recent_ones_stay(
    redis: Redis, stream: str
) -> None:
    old = await add_old(redis, stream, 10, age=30 * DAY)
    await redis.xgroup_create(stream, "orders", id="0")
    delivered = await read(redis, stream, "orders", 10)
    assert delivered == old
    await redis.xack(stream, "orders", *old[:6])  # 6..9 stay pending (a crashed consumer)
    recent = await add_new(redis, stream, 3)

    trimmer = StreamTrimmer(redis, [stream], WEEK)
    trimmed = await trimmer.trim(stream)

    assert trimmed.removed == 6
    assert trimmed.min_id == old[6]
    assert trimmed.held_by == "orders"
    assert await ids(redis, stream) == old[6:] + recent
    # The pending entries are still readable by whoever reclaims them.
    pending: list[Any] = list(old[6:])
    claimed: Any = await redis.xclaim(stream, "orders", "c2", min_idle_time=0, message_ids=pending)
    assert [i for i, fields in claimed if fields] == old[6:]

    await redis.xack(stream, "orders", *old[6:])
    await redis.xack(stream, "orders", *await read(redis, stream, "orders", 10))
    again = await trimmer.trim(stream)
    assert again.removed == 4
    assert again.held_by is None  # only the retention keeps the rest
    assert await ids(redis, stream) == recent  # acknowledged, but not a week old


async def test_entries_not_yet_delivered_are_never_trimmed(redis: Redis, stream: str) -> None:
    old = await add_old(redis, stream, 8, age=30 * DAY)
    await redis.xgroup_create(stream, "orders", id="0")
    await redis.xack(stream, "orders", *await read(redis, stream, "orders", 3))

    trimmed = await StreamTrimmer(redis, [stream], WEEK).trim(stream)

    assert trimmed.removed == 3
    assert await ids(redis, stream) == old[3:]


async def test_a_second_group_that_lags_holds_the_trim_back(redis: Redis, stream: str) -> None:
    old = await add_old(redis, stream, 10, age=30 * DAY)
    await redis.xgroup_create(stream, "orders", id="0")
    await redis.xgroup_create(stream, "audit", id="0")
    await redis.xack(stream, "orders", *await read(redis, stream, "orders", 10))
    await redis.xack(stream, "audit", *await read(redis, stream, "audit", 2))
    await read(redis, stream, "audit", 2)  # delivered, not acknowledged

    trimmer = StreamTrimmer(redis, [stream], WEEK)
    trimmed = await trimmer.trim(stream)

    assert (trimmed.removed, trimmed.held_by) == (2, "audit")
    assert await ids(redis, stream) == old[2:]

    await redis.xack(stream, "audit", *old[2:4])
    await redis.xack(stream, "audit", *await read(redis, stream, "audit", 10))
    assert (await trimmer.trim(stream)).removed == 8
    assert await ids(redis, stream) == []


async def test_a_stream_without_groups_and_the_dead_letters_are_kept(
    redis: Redis, stream: str
) -> None:
    old = await add_old(redis, stream, 5, age=30 * DAY)
    dead = stream_keys(stream).dead_letters
    await add_old(redis, dead, 5, age=30 * DAY)

    trimmed = await StreamTrimmer(redis, [stream, f"{stream}:missing"], 0).trim_all()

    assert [(t.min_id, t.removed) for t in trimmed] == [(None, 0), (None, 0)]
    assert await ids(redis, stream) == old
    assert await redis.xlen(dead) == 5


async def test_the_ingress_trims_every_shard_of_every_family_it_writes(redis: Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex[:10]}:webhooks"
    s = settings(prefix, stream_shards=3)
    streams = WebhookStreams(prefix, 3)
    every = [name for family in FAMILIES for name in streams.streams(family)]
    for name in every:
        await add_old(redis, name, 4, age=30 * DAY)
        await redis.xgroup_create(name, "consumers", id="0")
        await redis.xack(name, "consumers", *await read(redis, name, "consumers", 3))
        await add_old(redis, stream_keys(name).dead_letters, 2, age=30 * DAY)

    trimmer = stream_trimmer(s, redis)
    assert sorted(trimmer.streams) == sorted(every)
    trimmed = await trimmer.trim_all()

    assert {t.stream: t.removed for t in trimmed} == dict.fromkeys(every, 3)
    for name in every:
        assert await redis.xlen(name) == 1
        assert await redis.xlen(stream_keys(name).dead_letters) == 2


async def test_the_running_ingress_trims_what_the_orders_workers_acknowledged(
    redis_url: str, redis: Redis
) -> None:
    prefix = f"test:{uuid.uuid4().hex[:10]}:webhooks"
    app = create_app(
        settings(prefix, redis_url=redis_url, stream_retention=0, stream_trim_interval=0.1)
    )
    orders = WebhookStreams(prefix).stream(ORDERS)
    handled: list[str] = []

    async def handler(entry: Entry) -> None:
        handled.append(entry.id)

    worker = StreamWorker(Redis.from_url(redis_url), orders, "orders", handler, block=0.1)
    await worker.ensure_group()
    async with AsyncTestClient(app) as client:
        for n in range(5):
            body = order_body(order_id=1000 + n)
            answer = await client.post("/shopify/v1/webhooks", content=body, headers=headers(body))
            assert answer.status_code == 200, answer.text
        assert await redis.xlen(orders) == 5
        running = asyncio.create_task(worker.run())
        try:
            deadline = time.monotonic() + 10
            while await redis.xlen(orders) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            worker.stop()
            await running
        metrics = (await client.get("/metrics")).text
    await worker.redis.aclose()
    assert len(handled) == 5
    assert await redis.xlen(orders) == 0
    assert f'strata_shopify_stream_entries_trimmed_total{{stream="{orders}"}} 5.0' in metrics
    assert "strata_shopify_stream_last_trim_timestamp_seconds" in metrics


# -- Redis Cluster -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with running_redis_cluster() as started:
        yield started


@pytest.mark.slow
async def test_every_shard_is_trimmed_on_the_node_that_holds_it(cluster: RedisCluster) -> None:
    client = ClusterClient.from_url(cluster.url, decode_responses=True, socket_timeout=5)
    await client.initialize()
    try:
        prefix = f"test:{uuid.uuid4().hex[:10]}:webhooks"
        shards = WebhookStreams(prefix, 3).streams(ORDERS)
        masters = [client.get_node_from_key(s) for s in shards]
        # The shards live on more than one master.
        assert len({node.name for node in masters if node is not None}) > 1
        kept: dict[str, list[str]] = {}
        for shard in shards:
            old = await add_old(client, shard, 6, age=30 * DAY)
            await client.xgroup_create(shard, "orders", id="0")
            delivered = await read(client, shard, "orders", 4)
            await client.xack(shard, "orders", *delivered[:2])  # 2 and 3 stay pending
            kept[shard] = old[2:]

        trimmed = await stream_trimmer(settings(prefix, stream_shards=3), client).trim_all()

        by_stream = {t.stream: t for t in trimmed}
        for shard in shards:
            assert by_stream[shard].removed == 2
            assert by_stream[shard].held_by == "orders"
            assert await ids(client, shard) == kept[shard]
    finally:
        await client.aclose()
