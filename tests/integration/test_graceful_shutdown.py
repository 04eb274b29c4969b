"""Graceful shutdown: readiness turns false before the listener closes, and stream workers
finish or hand back what they hold, against a real Redis and a real ``strata serve``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from shared.events import Entry, StreamWorker, publish, stream_keys
from tests.support.processes import free_port
from tests.support.stack import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _started(worker: StreamWorker, started: asyncio.Event) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.run())
    async with asyncio.timeout(10):
        await started.wait()
    return task


async def test_an_entry_in_flight_at_stop_finishes_within_the_grace(redis: Redis) -> None:
    stream = f"shutdown-{uuid.uuid4().hex[:8]}"
    started, release = asyncio.Event(), asyncio.Event()
    done: list[str] = []

    async def handle(entry: Entry) -> None:
        started.set()
        await release.wait()
        done.append(entry.payload["order"])

    worker = StreamWorker(redis, stream, "g", handle, block=0.05, shutdown_grace=10)
    await worker.ensure_group()
    await publish(redis, stream, {"order": "1001"})
    task = await _started(worker, started)
    worker.stop()
    await asyncio.sleep(0.2)
    assert not task.done(), "run() returned while an entry was still being handled"
    release.set()
    async with asyncio.timeout(5):
        await task
    assert done == ["1001"]
    key, _, _ = stream_keys(stream)
    assert (await redis.xpending(key, "g"))["pending"] == 0


async def test_an_entry_still_running_after_the_grace_is_handed_back_at_once(
    redis: Redis,
) -> None:
    stream = f"shutdown-{uuid.uuid4().hex[:8]}"
    started = asyncio.Event()
    cancelled: list[str] = []

    async def stuck(entry: Entry) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(entry.id)
            raise

    # An hour's claim_idle: without the hand-back nobody could take the entry for an hour.
    leaving = StreamWorker(
        redis, stream, "g", stuck, consumer="leaving", block=0.05, claim_idle=3600,
        shutdown_grace=0.2,
    )  # fmt: skip
    await leaving.ensure_group()
    entry_id = await publish(redis, stream, {"order": "1002"})
    task = await _started(leaving, started)
    leaving.stop()
    async with asyncio.timeout(5):
        await task
    assert cancelled == [entry_id]

    key, _, _ = stream_keys(stream)
    pending = await redis.xpending_range(key, "g", min="-", max="+", count=10)
    assert [p["message_id"].decode() for p in pending] == [entry_id]
    assert pending[0]["time_since_delivered"] >= 3_600_000

    handled: list[str] = []

    async def handle(entry: Entry) -> None:
        handled.append(entry.payload["order"])

    staying = StreamWorker(redis, stream, "g", handle, consumer="staying", claim_idle=3600)
    assert await staying.reclaim_stale() == 1
    async with asyncio.timeout(5):
        while not handled:
            await asyncio.sleep(0.02)
    assert handled == ["1002"]
    assert (await redis.xpending(key, "g"))["pending"] == 0


def _serve_orders(redis_url: str, port: int, drain: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STRATA_SHUTDOWN_DRAIN_SECONDS": drain,
        "STRATA_ORDERS_REDIS_URL": redis_url,
        "STRATA_ORDERS_STREAM_PREFIX": f"shutdown:{uuid.uuid4().hex[:8]}",
        "STRATA_ORDERS_SERVICE_TOKEN": "unused-in-this-test",
        "STRATA_ORDERS_RATELIMIT_ENABLED": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "strata.cli", "serve", "orders", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_sigterm_turns_readiness_false_while_still_serving_then_exits(redis_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve_orders(redis_url, port, drain="3")
    try:

        def ready() -> bool:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                return httpx.get(f"{base}/health/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=30, what="orders to be ready")
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        answer = httpx.get(f"{base}/health/ready", timeout=2)
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "draining" in answer.json()["detail"]
        # Not-ready is not dead: it still serves while load balancers take it out.
        assert httpx.get(f"{base}/health/live", timeout=2).status_code == 200
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - signalled >= 2.5, "closed before the drain elapsed"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/health/live", timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_bad_drain_setting_stops_start_up_naming_the_variable(redis_url: str) -> None:
    proc = _serve_orders(redis_url, free_port(), drain="forever")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert b"STRATA_SHUTDOWN_DRAIN_SECONDS" in out
