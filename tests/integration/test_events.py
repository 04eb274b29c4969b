"""Stream workers against a real Redis: delivery, retries, dead letters, crash recovery."""

from __future__ import annotations

import asyncio
import random
import uuid
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
