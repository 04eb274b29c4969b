"""Stream workers against a real Redis: delivery, retries, dead letters, crash recovery."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.events import (
    Entry,
    PermanentFailure,
    StreamWorker,
    TransientFailure,
    backoff,
    publish,
    stream_keys,
)
from shared.streams import (
    ORDERS,
    ORDERS_CREATE,
    WebhookEvent,
    WebhookStreams,
    decode_entry,
    encode_entry,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def run_until(worker: StreamWorker, condition, timeout: float = 10.0) -> None:
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    finally:
        worker.stop()
        await task


async def test_each_entry_is_handled_and_acknowledged(redis: Redis) -> None:
    stream = name()
    seen: list[str] = []

    async def handle(entry: Entry) -> None:
        seen.append(entry.payload["n"])

    worker = StreamWorker(redis, stream, "g", handle, block=0.05)
    await worker.ensure_group()
    for n in range(20):
        await publish(redis, stream, {"n": str(n)})
    await run_until(worker, lambda: len(seen) == 20)
    assert sorted(seen, key=int) == [str(n) for n in range(20)]
    key, _, _ = stream_keys(stream)
    assert (await redis.xpending(key, "g"))["pending"] == 0


async def test_transient_failures_retry_then_succeed_with_history(redis: Redis) -> None:
    stream = name()
    attempts: list[Entry] = []

    async def handle(entry: Entry) -> None:
        attempts.append(entry)
        if entry.attempt < 3:
            raise TransientFailure(f"erp 503 #{entry.attempt}")

    worker = StreamWorker(redis, stream, "g", handle, block=0.05, base_delay=0.01, max_delay=0.05)
    await worker.ensure_group()
    await publish(redis, stream, {"order": "1001"})
    await run_until(worker, lambda: len(attempts) == 3)
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert [h.error for h in attempts[-1].history] == ["erp 503 #1", "erp 503 #2"]
    assert attempts[-1].payload == {"order": "1001"}


async def test_retry_after_is_honoured(redis: Redis) -> None:
    stream = name()
    times: list[float] = []

    async def handle(entry: Entry) -> None:
        times.append(asyncio.get_running_loop().time())
        if entry.attempt == 1:
            raise TransientFailure("429", retry_after=0.6)

    worker = StreamWorker(redis, stream, "g", handle, block=0.05, base_delay=0.001)
    await worker.ensure_group()
    await publish(redis, stream, {"x": "1"})
    await run_until(worker, lambda: len(times) == 2)
    assert times[1] - times[0] >= 0.55


async def test_exhausted_and_permanent_failures_go_to_dead_letters(redis: Redis) -> None:
    stream = name()
    buried: list[tuple[str, str, int]] = []

    async def handle(entry: Entry) -> None:
        if entry.payload["kind"] == "bad":
            raise PermanentFailure("unknown SKU", kind="mapping")
        raise TransientFailure("timeout")

    async def on_dead(entry: Entry, reason: str, kind: str) -> None:
        buried.append((entry.payload["kind"], kind, len(entry.history)))

    worker = StreamWorker(
        redis,
        stream,
        "g",
        handle,
        block=0.05,
        base_delay=0.001,
        max_delay=0.01,
        max_attempts=3,
        on_dead_letter=on_dead,
    )
    await worker.ensure_group()
    await publish(redis, stream, {"kind": "bad"})
    await publish(redis, stream, {"kind": "flaky"})
    await run_until(worker, lambda: len(buried) == 2)
    assert sorted(buried) == [("bad", "mapping", 1), ("flaky", "retries-exhausted", 3)]
    _, _, dead = stream_keys(stream)
    entries = await redis.xrange(dead)
    assert len(entries) == 2
    assert {e[1][b"kind"] for e in entries} == {b"bad", b"flaky"}


async def test_a_crashed_consumers_entries_are_reclaimed(redis: Redis) -> None:
    stream = name()
    key, _, _ = stream_keys(stream)
    handled: list[str] = []

    async def handle(entry: Entry) -> None:
        handled.append(entry.payload["n"])

    worker = StreamWorker(
        redis, stream, "g", handle, consumer="survivor", block=0.05, claim_idle=0.2
    )
    await worker.ensure_group()
    await publish(redis, stream, {"n": "1"})
    # A consumer reads the entry and dies before acknowledging it.
    await redis.xreadgroup("g", "crashed", {key: ">"}, count=1)
    assert (await redis.xpending(key, "g"))["pending"] == 1
    await asyncio.sleep(0.25)
    await run_until(worker, lambda: handled == ["1"])
    assert (await redis.xpending(key, "g"))["pending"] == 0


async def test_two_workers_share_the_group(redis: Redis) -> None:
    stream = name()
    seen: dict[str, list[str]] = {"a": [], "b": []}

    def handler(who: str):
        async def handle(entry: Entry) -> None:
            await asyncio.sleep(0.01)
            seen[who].append(entry.payload["n"])

        return handle

    a = StreamWorker(redis, stream, "g", handler("a"), consumer="a", block=0.05, batch=2)
    b = StreamWorker(redis, stream, "g", handler("b"), consumer="b", block=0.05, batch=2)
    await a.ensure_group()
    for n in range(40):
        await publish(redis, stream, {"n": str(n)})
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    async with asyncio.timeout(10):
        while len(seen["a"]) + len(seen["b"]) < 40:
            await asyncio.sleep(0.02)
    a.stop()
    b.stop()
    await asyncio.gather(*tasks)
    assert sorted(seen["a"] + seen["b"], key=int) == [str(n) for n in range(40)]
    assert seen["a"]
    assert seen["b"]


def test_backoff_is_bounded_full_jitter() -> None:
    rng = random.Random(7)
    values = [backoff(attempt, 0.5, 8.0, rng) for attempt in range(1, 12) for _ in range(50)]
    assert all(0 <= v <= 8.0 for v in values)
    assert max(backoff(1, 0.5, 8.0, rng) for _ in range(200)) <= 0.5
    assert max(values) > 4.0


# -- a family sharded over several streams --------------------------------------------------


def shards(count: int = 3) -> list[str]:
    return WebhookStreams(f"test:{uuid.uuid4().hex[:8]}:webhooks", count).streams(ORDERS)


def webhook(n: int, shop: str = "demo-eu.myshopify.com") -> dict[str, str]:
    return encode_entry(
        WebhookEvent(topic=ORDERS_CREATE, shop=shop, body=f'{{"id": {n}}}', event_id=f"ev-{n}")
    )


async def pending(redis: Redis, streams: list[str]) -> list[int]:
    return [(await redis.xpending(stream, "g"))["pending"] for stream in streams]


async def test_every_shard_is_read_and_each_entry_handled_once(redis: Redis) -> None:
    streams = shards()
    handled: Counter[tuple[str, str]] = Counter()

    async def handle(entry: Entry) -> None:
        event = decode_entry(entry.fields)
        assert isinstance(event, WebhookEvent)
        await asyncio.sleep(0.005)
        handled[(entry.stream, event.event_id)] += 1

    a = StreamWorker(redis, streams, "g", handle, consumer="a", block=0.05, batch=4)
    b = StreamWorker(redis, streams, "g", handle, consumer="b", block=0.05, batch=4)
    await a.ensure_group()
    sent = {(streams[n % 3], f"ev-{n}") for n in range(60)}
    for n in range(60):
        await publish(redis, streams[n % 3], webhook(n))
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    async with asyncio.timeout(10):
        while sum(handled.values()) < 60:
            await asyncio.sleep(0.02)
    a.stop()
    b.stop()
    await asyncio.gather(*tasks)
    assert set(handled) == sent
    assert set(handled.values()) == {1}
    assert await pending(redis, streams) == [0, 0, 0]


async def test_a_crashed_consumers_entries_on_every_shard_are_reclaimed_once(
    redis: Redis,
) -> None:
    streams = shards()
    handled: Counter[tuple[str, str]] = Counter()

    async def handle(entry: Entry) -> None:
        handled[(entry.stream, entry.payload["event_id"])] += 1

    survivor = StreamWorker(
        redis, streams, "g", handle, consumer="survivor", block=0.05, claim_idle=0.2
    )
    await survivor.ensure_group()
    for n in range(12):
        await publish(redis, streams[n % 3], webhook(n))
    # A consumer reads two entries of every shard and dies before acknowledging them.
    taken = await redis.xreadgroup("g", "crashed", dict.fromkeys(streams, ">"), count=2)
    assert sorted(len(entries) for _, entries in taken) == [2, 2, 2]
    assert await pending(redis, streams) == [2, 2, 2]
    for n in range(12, 18):
        await publish(redis, streams[n % 3], webhook(n))
    await asyncio.sleep(0.25)
    await run_until(survivor, lambda: sum(handled.values()) >= 18)
    assert set(handled) == {(streams[n % 3], f"ev-{n}") for n in range(18)}
    assert set(handled.values()) == {1}
    assert await pending(redis, streams) == [0, 0, 0]


async def test_retries_and_dead_letters_stay_on_the_entrys_shard(redis: Redis) -> None:
    streams = shards()
    attempts: list[tuple[str, int]] = []
    buried: list[Entry] = []

    async def handle(entry: Entry) -> None:
        attempts.append((entry.stream, entry.attempt))
        if entry.payload["event_id"] == "ev-1":
            raise PermanentFailure("unknown SKU", kind="mapping")
        if entry.attempt == 1:
            raise TransientFailure("erp 503")

    async def on_dead(entry: Entry, reason: str, kind: str) -> None:
        buried.append(entry)

    worker = StreamWorker(
        redis, streams, "g", handle, block=0.05, base_delay=0.01, max_delay=0.02,
        on_dead_letter=on_dead,
    )  # fmt: skip
    await worker.ensure_group()
    await publish(redis, streams[0], webhook(0))
    await publish(redis, streams[1], webhook(1))
    await run_until(worker, lambda: len(attempts) == 3 and len(buried) == 1)
    assert sorted(attempts) == [(streams[0], 1), (streams[0], 2), (streams[1], 1)]
    assert [entry.stream for entry in buried] == [streams[1]]
    dead = [len(await redis.xrange(stream_keys(s).dead_letters)) for s in streams]
    assert dead == [0, 1, 0]
    # The retry went back onto its own shard, and nothing is left behind anywhere.
    assert len(await redis.xrange(streams[0])) == 2
    assert [await redis.zcard(stream_keys(s).retry_set) for s in streams] == [0, 0, 0]
    assert await pending(redis, streams) == [0, 0, 0]


async def test_entries_still_running_at_stop_are_handed_back_on_their_shards(
    redis: Redis,
) -> None:
    streams = shards()
    started: set[str] = set()

    async def stuck(entry: Entry) -> None:
        started.add(entry.stream)
        await asyncio.sleep(3600)

    leaving = StreamWorker(
        redis, streams, "g", stuck, consumer="leaving", block=0.05, claim_idle=3600,
        shutdown_grace=0.1,
    )  # fmt: skip
    await leaving.ensure_group()
    await publish(redis, streams[0], webhook(0))
    await publish(redis, streams[2], webhook(2))
    await run_until(leaving, lambda: started == {streams[0], streams[2]})
    for stream, held in zip(streams, (1, 0, 1), strict=True):
        entries = await redis.xpending_range(stream, "g", min="-", max="+", count=10)
        assert len(entries) == held
        assert all(e["time_since_delivered"] >= 3_600_000 for e in entries)

    handled: list[str] = []

    async def handle(entry: Entry) -> None:
        handled.append(entry.stream)

    staying = StreamWorker(redis, streams, "g", handle, consumer="staying", claim_idle=3600)
    assert await staying.reclaim_stale() == 2
    async with asyncio.timeout(5):
        while len(handled) < 2:
            await asyncio.sleep(0.02)
    assert sorted(handled) == [streams[0], streams[2]]
    assert await pending(redis, streams) == [0, 0, 0]


async def test_a_worker_needs_a_stream_and_several_need_naming(redis: Redis) -> None:
    async def handle(entry: Entry) -> None:
        return None

    with pytest.raises(ValueError, match="at least one stream"):
        StreamWorker(redis, [], "g", handle)
    streams = shards(2)
    worker = StreamWorker(redis, [*streams, streams[0]], "g", handle)
    assert worker.streams == tuple(streams)
    with pytest.raises(ValueError, match="name the entries' stream"):
        await worker.hand_back(["1-0"])
    with pytest.raises(ValueError, match="not a stream this worker reads"):
        await worker.hand_back(["1-0"], "elsewhere")
    single = StreamWorker(redis, "orders-test", "g", handle)
    assert single.streams == ("strata:stream:{orders-test}",)
    assert (single.stream, single.retry_set, single.dead_letters) == stream_keys("orders-test")
