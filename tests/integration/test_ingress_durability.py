"""The ingress is ready only on a Redis that keeps acknowledged webhooks across a restart
(append-only file or a replica), or when a setting accepts the risk; its readiness says which."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from shared.health import NodePersistence, RedisDurability, RedisNotDurable
from system_apis.shopify.app import create_app
from system_apis.shopify.settings import load_shopify_settings
from tests.support.processes import RedisServer
from tests.support.redis_cluster import RedisCluster, running_redis_cluster
from tests.unit.shopify.deliveries import settings

pytestmark = pytest.mark.integration

ACCEPT = "STRATA_SHOPIFY_REDIS_ACCEPT_VOLATILE"


@contextlib.contextmanager
def private_redis(*args: str) -> Iterator[RedisServer]:
    server = RedisServer(extra_args=args).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture
def volatile_redis() -> Iterator[RedisServer]:
    """A Redis deliberately without persistence: no append-only file, no replica."""
    with private_redis("--appendonly", "no") as server:
        yield server


@pytest.fixture
async def admin(volatile_redis: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(volatile_redis.url, decode_responses=True)
    yield client
    await client.aclose()


async def readiness(redis_url: str, **overrides: Any) -> tuple[int, str, dict[str, Any]]:
    """Start a fresh ingress on ``redis_url`` and ask it once whether it is ready."""
    prefix = f"test:{uuid.uuid4().hex[:10]}:webhooks"
    app = create_app(settings(prefix, redis_url=redis_url, **overrides))
    async with AsyncTestClient(app) as client:
        answer = await client.get("/health/ready")
    return answer.status_code, answer.headers["content-type"], answer.json()


async def test_without_aof_or_replicas_it_refuses_to_be_ready_and_says_why(
    volatile_redis: RedisServer,
) -> None:
    status, media_type, body = await readiness(volatile_redis.url)

    assert status == 503
    assert media_type.startswith("application/problem+json")
    assert body["type"].endswith("/not-ready")
    (failing,) = body["errors"]
    assert failing["check"] == "redis_durability"
    detail = failing["detail"]
    assert f"127.0.0.1:{volatile_redis.port} AOF off, 0 replicas" in detail
    assert "webhooks already answered 200" in detail
    assert "appendonly yes" in detail
    assert f"{ACCEPT}=true" in detail
    assert detail in body["detail"]


async def test_with_aof_it_is_ready_and_states_the_persistence(
    volatile_redis: RedisServer, admin: Redis
) -> None:
    await admin.config_set("appendonly", "yes")

    status, _, body = await readiness(volatile_redis.url)

    assert status == 200, body
    assert body["checks"] == {"redis": "ok", "redis_durability": "ok"}
    assert body["found"]["redis_durability"] == (
        f"durable: 127.0.0.1:{volatile_redis.port} AOF on (appendfsync everysec), 0 replicas"
    )

    await admin.config_set("appendonly", "no")
    status, _, body = await readiness(volatile_redis.url)
    assert status == 503


async def test_a_connected_replica_is_durable_enough(volatile_redis: RedisServer) -> None:
    replica_of = ("--replicaof", "127.0.0.1", str(volatile_redis.port))
    with private_redis("--appendonly", "no", *replica_of):
        primary = Redis.from_url(volatile_redis.url)
        try:
            for _ in range(100):
                if (await primary.info("replication"))["connected_slaves"] >= 1:
                    break
                await asyncio.sleep(0.05)
        finally:
            await primary.aclose()

        status, _, body = await readiness(volatile_redis.url)

    assert status == 200, body
    assert body["found"]["redis_durability"] == (
        f"durable: 127.0.0.1:{volatile_redis.port} AOF off, 1 replica"
    )


async def test_the_accept_setting_makes_it_ready_and_says_volatile(
    volatile_redis: RedisServer,
) -> None:
    accepted = load_shopify_settings(
        {
            "STRATA_SHOPIFY_SHOPS": '{"demo-eu.myshopify.com": {"secret": "s"}}',
            "STRATA_SHOPIFY_REDIS_URL": volatile_redis.url,
            ACCEPT: "true",
        }
    )
    assert accepted.redis_accept_volatile is True

    status, _, body = await readiness(volatile_redis.url, redis_accept_volatile=True)

    assert status == 200, body
    assert body["found"]["redis_durability"] == (
        f"volatile, accepted by {ACCEPT}=true: 127.0.0.1:{volatile_redis.port} AOF off, 0 replicas"
    )


async def test_one_look_at_redis_serves_readiness_for_a_few_seconds(
    volatile_redis: RedisServer, admin: Redis
) -> None:
    now = [1000.0]
    client = Redis.from_url(volatile_redis.url)
    check = RedisDurability(
        client,
        accept_volatile=False,
        accept_setting=ACCEPT,
        at_risk="webhooks",
        ttl=5.0,
        clock=lambda: now[0],
    )
    try:
        with pytest.raises(RedisNotDurable):
            await check()
        await admin.config_set("appendonly", "yes")
        calls_before = (await admin.info("commandstats")).get("cmdstat_info", {}).get("calls")
        now[0] += 4.0
        with pytest.raises(RedisNotDurable):
            await check()  # the cached look: Redis was not asked again
        calls_after = (await admin.info("commandstats")).get("cmdstat_info", {}).get("calls")
        assert calls_after == calls_before + 1  # our own INFO commandstats only
        now[0] += 1.5
        assert (await check()).startswith("durable: ")
    finally:
        await client.aclose()


# -- Redis Cluster -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with running_redis_cluster() as started:
        yield started


@pytest.mark.slow
async def test_on_a_cluster_every_master_is_checked(cluster: RedisCluster) -> None:
    status, _, body = await readiness(cluster.url, redis_cluster=True)

    assert status == 200, body
    found = body["found"]["redis_durability"]
    for port in cluster.ports:
        assert f"127.0.0.1:{port} AOF on (appendfsync everysec), 0 replicas" in found

    volatile = cluster.ports[1]
    node = Redis(port=volatile, decode_responses=True)
    try:
        await node.config_set("appendonly", "no")
        status, _, body = await readiness(cluster.url, redis_cluster=True)
        assert status == 503
        (failing,) = body["errors"]
        assert f"127.0.0.1:{volatile} AOF off, 0 replicas" in failing["detail"]
        for port in cluster.ports:
            if port != volatile:
                assert f"127.0.0.1:{port}" not in failing["detail"]
    finally:
        await node.config_set("appendonly", "yes")
        await node.aclose()


# -- the judgement alone -----------------------------------------------------------------------


def judge(*nodes: NodePersistence, accept: bool = False) -> tuple[bool, str]:
    check = RedisDurability(
        Redis(), accept_volatile=accept, accept_setting=ACCEPT, at_risk="webhooks"
    )
    return check.judge(list(nodes))


def test_one_volatile_master_of_several_is_enough_to_refuse_and_is_named() -> None:
    durable = NodePersistence(node="a:1", aof=True, fsync="always")
    replicated = NodePersistence(node="b:1", aof=False, replicas=2)
    volatile = NodePersistence(node="c:1", aof=False)
    assert judge(durable, replicated) == (
        True,
        "durable: a:1 AOF on (appendfsync always), 0 replicas; b:1 AOF off, 2 replicas",
    )
    ready, said = judge(durable, replicated, volatile)
    assert not ready
    assert said.startswith("Redis keeps its data in memory only (c:1 AOF off, 0 replicas)")
    assert "a:1" not in said
    assert judge(durable, volatile, accept=True)[0] is True


def test_an_append_only_file_that_cannot_be_written_is_not_durable() -> None:
    failing = NodePersistence(node="a:1", aof=True, aof_writing=False)
    ready, said = judge(failing)
    assert not ready
    assert said.startswith(
        "Redis cannot write its append-only file (a:1 AOF on but its last write failed"
    )
    assert judge(NodePersistence(node="a:1", aof=True))[1] == "durable: a:1 AOF on, 0 replicas"


def test_no_node_at_all_is_not_ready() -> None:
    assert judge() == (False, "Redis named no node that takes writes")
