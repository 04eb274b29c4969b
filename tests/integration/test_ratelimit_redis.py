"""Inbound rate limiting against a real redis-server: headers, one command a request,
script-cache loss, and what each policy does while Redis is down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from shared.ratelimit import (
    InboundLimiter,
    Policy,
    RateLimitSettings,
    calls_between,
    command_calls,
)
from tests.support.event_loops import BOTH_LOOPS_QUIET, event_loop_policy  # noqa: F401
from tests.support.processes import RedisServer, running_redis
from tests.support.ratelimit_app import create_app

pytestmark = [pytest.mark.integration, BOTH_LOOPS_QUIET]

# The commands the GCRA script runs inside Redis (INFO commandstats counts them too).
SCRIPT_INNER = {"time", "get", "set"}


def _settings(redis_url: str, *policies: Policy, **extra: Any) -> RateLimitSettings:
    return RateLimitSettings(
        redis_url=redis_url,
        key_prefix=f"test:rl:{uuid.uuid4().hex[:8]}",
        policies=policies,
        **extra,
    )


ORDERS = Policy(name="orders", limit=3, period=60, paths=("/orders/v1/orders",))
EXPORTS = Policy(name="exports", limit=1, period=10, groups=("exports",))


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture
async def inspector(private_redis: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(private_redis.url)
    yield client
    await client.aclose()


async def test_headers_on_admitted_and_refused_requests(redis_url: str) -> None:
    limiter = InboundLimiter.from_settings(
        _settings(redis_url, ORDERS, EXPORTS), registry=CollectorRegistry()
    )
    async with AsyncTestClient(create_app(limiter)) as client:
        seen = [
            await client.get("/orders/v1/orders", headers={"x-client-id": "acme"}) for _ in range(4)
        ]
        other = await client.get("/orders/v1/orders", headers={"x-client-id": "globex"})
        exports = [
            await client.get("/orders/v1/exports", headers={"x-client-id": "acme"})
            for _ in range(2)
        ]
        probe = await client.get("/health/live")
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert all(r.headers["ratelimit-policy"] == '"orders";q=3;w=60' for r in seen)
    assert [r.headers["ratelimit"] for r in seen[:3]] == [
        '"orders";r=2;t=20',
        '"orders";r=1;t=40',
        '"orders";r=0;t=60',
    ]
    refused = seen[3]
    assert refused.headers["content-type"] == "application/problem+json"
    assert 19 <= int(refused.headers["retry-after"]) <= 20
    body: dict[str, Any] = msgspec.json.decode(refused.content)
    assert body["type"] == "https://strata.dev/problems/quota-exceeded"
    assert body["status"] == 429
    assert body["retry_after"] == int(refused.headers["retry-after"])
    assert refused.headers["ratelimit"].startswith('"orders";r=0;t=')
    # Another client has its own quota; a route group has its own policy.
    assert other.status_code == 200
    assert other.headers["ratelimit"] == '"orders";r=2;t=20'
    assert [r.status_code for r in exports] == [200, 429]
    assert exports[0].headers["ratelimit-policy"] == '"exports";q=1;w=10'
    assert probe.status_code == 200
    assert "ratelimit" not in probe.headers
    failures = limiter.metrics.redis_failures.labels("orders", "open")._value.get()
    assert failures == 0


async def test_exactly_one_command_per_limited_request(
    private_redis: RedisServer, inspector: Redis
) -> None:
    limiter = InboundLimiter.from_settings(
        _settings(private_redis.url, Policy(name="orders", limit=1000, period=1, paths=("/",))),
        registry=CollectorRegistry(),
    )
    async with AsyncTestClient(create_app(limiter)) as client:
        # Warm-up loads the script (NOSCRIPT, then EVAL) and opens the connections.
        await client.get("/orders/v1/orders", headers={"x-client-id": "warm-up"})
        before = await command_calls(inspector)
        requests = 200
        for i in range(requests):
            response = await client.get("/orders/v1/orders", headers={"x-client-id": f"c{i % 7}"})
            assert response.status_code == 200
        after = await command_calls(inspector)
    ran = calls_between(before, after)
    assert ran.get("evalsha") == requests
    sent_by_clients = {name: n for name, n in ran.items() if name not in SCRIPT_INNER}
    assert sent_by_clients == {"evalsha": requests}
    assert ran.get("time") == requests  # one clock read inside each script run


async def test_a_flushed_script_cache_is_reloaded(
    private_redis: RedisServer, inspector: Redis
) -> None:
    limiter = InboundLimiter.from_settings(
        _settings(private_redis.url, ORDERS), registry=CollectorRegistry()
    )
    async with AsyncTestClient(create_app(limiter)) as client:
        first = await client.get("/orders/v1/orders", headers={"x-client-id": "acme"})
        await inspector.script_flush()
        second = await client.get("/orders/v1/orders", headers={"x-client-id": "acme"})
    assert first.headers["ratelimit"] == '"orders";r=2;t=20'
    assert second.headers["ratelimit"] == '"orders";r=1;t=40'
    assert limiter.redis_in_use


async def test_redis_down_fails_open_or_closed_then_recovers(
    private_redis: RedisServer, inspector: Redis
) -> None:
    open_policy = Policy(name="orders", limit=3, period=60, paths=("/orders/v1/orders",))
    closed_policy = Policy(
        name="exports", limit=5, period=60, groups=("exports",), on_redis_down="closed"
    )
    settings = _settings(private_redis.url, open_policy, closed_policy, redis_backoff=0.3)
    limiter = InboundLimiter.from_settings(settings, registry=CollectorRegistry())
    headers = {"x-client-id": "acme"}
    async with AsyncTestClient(create_app(limiter)) as client:
        assert (await client.get("/orders/v1/orders", headers=headers)).status_code == 200
        assert (await client.get("/orders/v1/exports", headers=headers)).status_code == 200

        private_redis.stop()
        loop = asyncio.get_running_loop()
        started = loop.time()
        down = [await client.get("/orders/v1/orders", headers=headers) for _ in range(5)]
        closed = await client.get("/orders/v1/exports", headers=headers)
        elapsed = loop.time() - started
        # Fail open: the in-process GCRA applies the same policy (its own fresh quota of 3).
        assert [r.status_code for r in down] == [200, 200, 200, 429, 429]
        assert down[0].headers["ratelimit"] == '"orders";r=2;t=20'
        # Fail closed: 503 problem with Retry-After.
        assert closed.status_code == 503
        assert closed.headers["content-type"] == "application/problem+json"
        assert closed.headers["retry-after"] == "1"
        assert msgspec.json.decode(closed.content)["type"].endswith("/service-unavailable")
        assert elapsed < 1.0  # a dead Redis does not stall requests
        assert not limiter.redis_in_use
        failures = limiter.metrics.redis_failures
        assert failures.labels("orders", "open")._value.get() == 5
        assert failures.labels("exports", "closed")._value.get() == 1

        private_redis.start()
        await asyncio.sleep(0.35)  # past the back-off
        key = limiter.compiled["orders"].key("acme", "default")
        back = await client.get("/orders/v1/orders", headers=headers)
        reopened = await client.get("/orders/v1/exports", headers=headers)
        assert back.status_code == 200
        assert reopened.status_code == 200
        # Redis kept its data (append-only file): the quota goes on from what it counted before
        # the outage, the requests let through while it was down not counted.
        assert back.headers["ratelimit"] == '"orders";r=1;t=40'
        assert await inspector.exists(key) == 1
        assert limiter.redis_in_use
        assert failures.labels("orders", "open")._value.get() == 5


async def test_concurrent_checks_share_pipelines_one_command_each(
    private_redis: RedisServer, inspector: Redis
) -> None:
    burst = Policy(name="burst", limit=10, period=60, paths=("/",))
    limiter = InboundLimiter.from_settings(
        _settings(private_redis.url, burst), registry=CollectorRegistry()
    )
    compiled = limiter.compiled["burst"]
    await inspector.script_flush()  # the first batch meets NOSCRIPT and reloads
    before = await command_calls(inspector)
    decisions = await asyncio.gather(*(limiter.check(compiled, "acme", "p") for _ in range(50)))
    others = await asyncio.gather(*(limiter.check(compiled, f"c{i}", "p") for i in range(50)))
    after = await command_calls(inspector)
    await limiter.aclose()
    assert sum(d.allowed for d in decisions) == 10  # atomic: never more than the burst
    assert all(d.allowed for d in others)
    ran = calls_between(before, after)
    # One EVALSHA per check; the first batch's NOSCRIPT replies are re-sent once with EVAL.
    assert ran["evalsha"] == 100
    assert ran["eval"] == 50
    assert limiter.redis_in_use


async def test_a_pipeline_to_a_dead_redis_falls_back_at_once(private_redis: RedisServer) -> None:
    policy = Policy(name="orders", limit=5, period=60, paths=("/",))
    limiter = InboundLimiter.from_settings(
        _settings(private_redis.url, policy), registry=CollectorRegistry()
    )
    compiled = limiter.compiled["orders"]
    assert (await limiter.check(compiled, "acme", "p")).allowed
    private_redis.stop()
    decisions = await asyncio.gather(*(limiter.check(compiled, "acme", "p") for _ in range(8)))
    await limiter.aclose()
    assert sum(d.allowed for d in decisions) == 5  # the local GCRA, fresh, with the same policy
    assert limiter.metrics.redis_failures.labels("orders", "open")._value.get() == 8
