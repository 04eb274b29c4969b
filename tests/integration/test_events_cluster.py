"""Stream workers on a 3-master Redis Cluster: every shard read, each entry handled once,
retries and dead letters on the entry's shard, a crashed consumer's entries reclaimed."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import RedisCluster as ClusterClient

from shared.events import (
    Entry,
    PermanentFailure,
    StreamWorker,
    TransientFailure,
    publish,
    stream_keys,
)
from shared.streams import ORDERS, ORDERS_CREATE, WebhookEvent, WebhookStreams, encode_entry
from tests.support.redis_cluster import RedisCluster, running_redis_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with running_redis_cluster() as started:
        yield started


@pytest.fixture
async def client(cluster: RedisCluster) -> AsyncIterator[ClusterClient]:
    redis = ClusterClient.from_url(cluster.url, socket_timeout=5, socket_connect_timeout=2)
    await redis.initialize()  # the slot map, which ``shards`` asks before any command
    yield redis
    await redis.aclose()


def shards(client: ClusterClient) -> list[str]:
    """Three shards of a fresh family: three slots, on more than one master (``{orders-0}``
    and ``{orders-2}`` share a master of a freshly created 3-master cluster)."""
    streams = WebhookStreams(f"test:{uuid.uuid4().hex[:8]}:webhooks", 3).streams(ORDERS)
    assert len({client.keyslot(s) for s in streams}) == 3
    assert len({client.get_node_from_key(s).name for s in streams}) > 1
    return streams


def webhook(n: int) -> dict[str, str]:
    return encode_entry(
        WebhookEvent(
            topic=ORDERS_CREATE, shop="demo-eu.myshopify.com", body=f'{{"id": {n}}}',
            event_id=f"ev-{n}",
        )
    )  # fmt: skip


async def pending(client: ClusterClient, streams: list[str]) -> list[int]:
    return [(await client.xpending(stream, "g"))["pending"] for stream in streams]


async def run_until(worker: StreamWorker, condition: object, timeout: float = 15.0) -> None:
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not condition():  # type: ignore[operator]
                await asyncio.sleep(0.02)
    finally:
        worker.stop()
        await task


async def test_two_workers_read_every_shard_and_handle_each_entry_once(
    client: ClusterClient,
) -> None:
    streams = shards(client)
    handled: Counter[tuple[str, str]] = Counter()

    async def handle(entry: Entry) -> None:
        await asyncio.sleep(0.005)
        handled[(entry.stream, entry.payload["event_id"])] += 1

    a = StreamWorker(client, streams, "g", handle, consumer="a", block=0.05, batch=4)
    b = StreamWorker(client, streams, "g", handle, consumer="b", block=0.05, batch=4)
    await a.ensure_group()
    for n in range(60):
        await publish(client, streams[n % 3], webhook(n))
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    async with asyncio.timeout(15):
        while sum(handled.values()) < 60:
            await asyncio.sleep(0.02)
    a.stop()
    b.stop()
    await asyncio.gather(*tasks)
    assert set(handled) == {(streams[n % 3], f"ev-{n}") for n in range(60)}
    assert set(handled.values()) == {1}
    assert await pending(client, streams) == [0, 0, 0]


async def test_a_crashed_consumers_entries_are_reclaimed_on_every_shard(
    client: ClusterClient,
) -> None:
    streams = shards(client)
    handled: Counter[tuple[str, str]] = Counter()

    async def handle(entry: Entry) -> None:
        handled[(entry.stream, entry.payload["event_id"])] += 1

    survivor = StreamWorker(
        client, streams, "g", handle, consumer="survivor", block=0.05, claim_idle=0.2
    )
    await survivor.ensure_group()
    for n in range(12):
        await publish(client, streams[n % 3], webhook(n))
    # A consumer reads two entries of every shard and dies before acknowledging them.
    for stream in streams:
        taken = await client.xreadgroup("g", "crashed", {stream: ">"}, count=2)
        assert [len(entries) for _, entries in taken] == [2]
    assert await pending(client, streams) == [2, 2, 2]
    await asyncio.sleep(0.25)
    await run_until(survivor, lambda: sum(handled.values()) >= 12)
    assert set(handled) == {(streams[n % 3], f"ev-{n}") for n in range(12)}
    assert set(handled.values()) == {1}
    assert await pending(client, streams) == [0, 0, 0]


async def test_retries_and_dead_letters_run_their_scripts_on_the_entrys_slot(
    client: ClusterClient,
) -> None:
    streams = shards(client)
    attempts: list[tuple[str, int]] = []

    async def handle(entry: Entry) -> None:
        attempts.append((entry.stream, entry.attempt))
        if entry.payload["event_id"] == "ev-1":
            raise PermanentFailure("unknown SKU", kind="mapping")
        if entry.attempt == 1:
            raise TransientFailure("erp 503")

    worker = StreamWorker(client, streams, "g", handle, block=0.05, base_delay=0.01, max_delay=0.02)
    await worker.ensure_group()
    await publish(client, streams[0], webhook(0))
    await publish(client, streams[1], webhook(1))
    await run_until(worker, lambda: len(attempts) == 3)
    assert sorted(attempts) == [(streams[0], 1), (streams[0], 2), (streams[1], 1)]
    dead = [len(await client.xrange(stream_keys(s).dead_letters)) for s in streams]
    assert dead == [0, 1, 0]
    assert [await client.zcard(stream_keys(s).retry_set) for s in streams] == [0, 0, 0]
    assert await pending(client, streams) == [0, 0, 0]
