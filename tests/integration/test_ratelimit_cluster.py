"""The rate-limit scripts on a 3-master Redis Cluster through ``RedisCluster``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import RedisCluster as ClusterClient

from shared.ratelimit import (
    CostBucket,
    InboundLimiter,
    Policy,
    RateLimitSettings,
    TokenBucket,
    calls_between,
    command_calls,
    open_redis,
)
from tests.support.redis_cluster import RedisCluster, running_redis_cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLICY = Policy(name="orders", limit=2, period=60, paths=("/",))


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with running_redis_cluster() as started:
        yield started


@pytest.fixture
async def client(cluster: RedisCluster) -> AsyncIterator[ClusterClient]:
    redis = open_redis(cluster.url, cluster=True, socket_timeout=1, connect_timeout=1)
    assert isinstance(redis, ClusterClient)
    yield redis
    await redis.aclose()


async def test_inbound_limits_on_a_cluster_with_keys_spread_over_slots(
    client: ClusterClient,
) -> None:
    settings = RateLimitSettings(cluster=True, key_prefix="cl:rl", policies=(POLICY,))
    limiter = InboundLimiter(settings, client, registry=CollectorRegistry())
    compiled = limiter.compiled["orders"]
    clients = [f"client-{i}" for i in range(12)]
    before = await command_calls(client)
    outcomes = {
        c: [(await limiter.check(compiled, c, "default")).allowed for _ in range(3)]
        for c in clients
    }
    after = await command_calls(client)
    assert all(seen == [True, True, False] for seen in outcomes.values())
    keys = [compiled.key(c, "default") for c in clients]
    slots = {client.keyslot(k) for k in keys}
    nodes = {client.get_node_from_key(k).name for k in keys}
    assert len(slots) == len(keys)
    assert len(nodes) == 3  # every master holds some quotas
    for key in keys:
        assert await client.exists(key) == 1
    ran = calls_between(before, after)
    checks = 3 * len(clients)
    # One EVALSHA per check; each master's empty script cache adds one EVAL, once.
    assert ran["evalsha"] == checks
    assert ran["eval"] == 3
    assert ran["time"] == checks
    assert limiter.redis_in_use


async def test_outbound_buckets_on_a_cluster(client: ClusterClient) -> None:
    bucket = TokenBucket(client, "erp:eu-tryton", rate=100, burst=2, max_wait=1)
    waits = [await bucket.acquire() for _ in range(4)]
    assert waits[:2] == [0, 0]
    assert waits[2] > 0
    cost = CostBucket(client, "cluster-shop.myshopify.com", maximum_available=100, restore_rate=50)
    reservation = await cost.reserve(30)
    points = await cost.observe(
        {"maximumAvailable": 100, "currentlyAvailable": 70, "restoreRate": 50},
        25,
        30,
        reservation=reservation,
    )
    assert points == pytest.approx(70, abs=0.01)
    await asyncio.sleep(0)


async def test_concurrent_checks_pipelined_across_cluster_nodes(client: ClusterClient) -> None:
    policy = Policy(name="burst", limit=4, period=60, paths=("/",))
    settings = RateLimitSettings(cluster=True, key_prefix="cl:batch", policies=(policy,))
    limiter = InboundLimiter(settings, client, registry=CollectorRegistry())
    compiled = limiter.compiled["burst"]
    clients = [f"shop-{i}" for i in range(9)]
    before = await command_calls(client)
    decisions = await asyncio.gather(
        *(limiter.check(compiled, c, "default") for c in clients for _ in range(6))
    )
    after = await command_calls(client)
    allowed: dict[str, int] = {}
    for (c, _), decision in zip(
        ((c, i) for c in clients for i in range(6)), decisions, strict=True
    ):
        allowed[c] = allowed.get(c, 0) + decision.allowed
    assert allowed == dict.fromkeys(clients, 4)
    assert calls_between(before, after)["evalsha"] == len(decisions)
    assert len({client.get_node_from_key(compiled.key(c, "default")).name for c in clients}) > 1
