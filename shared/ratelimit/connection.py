"""Redis clients tuned for rate limiting, and counting the commands clients send Redis.

A rate-limit check must never stall a request: short socket timeouts and no client-side
retries (the limiter has its own back-off and fallback).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shared.ratelimit.scripts import RedisClient


def open_redis(
    url: str,
    *,
    cluster: bool = False,
    socket_timeout: float = 0.1,
    connect_timeout: float = 0.1,
    max_connections: int = 64,
) -> RedisClient:
    """A Redis (or Redis Cluster) client that fails fast instead of retrying."""
    if cluster:
        return RedisCluster.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
            max_connections=max_connections,
        )
    return Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 0),
        max_connections=max_connections,
    )


async def command_calls(client: RedisClient) -> dict[str, int]:
    """``INFO commandstats`` as {command: calls}, summed over every node of a cluster.

    Redis counts the commands a script runs (``TIME``, ``GET``...) here too, so count
    round trips from the script-calling commands (``evalsha``, ``eval``) plus any others.
    The ``info`` calls made to read the figures are left out.
    """
    if isinstance(client, RedisCluster):
        per_node: Any = await client.info("commandstats", target_nodes=RedisCluster.PRIMARIES)
        sections: Iterable[dict[str, Any]] = per_node.values()
    else:
        sections = [await client.info("commandstats")]
    calls: dict[str, int] = {}
    for section in sections:
        for name, stats in section.items():
            command = name.removeprefix("cmdstat_")
            if command == "info":
                continue
            calls[command] = calls.get(command, 0) + int(stats["calls"])
    return calls


def calls_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Commands run between two :func:`command_calls` readings (only those that changed)."""
    return {
        name: after[name] - before.get(name, 0)
        for name in after
        if after[name] != before.get(name, 0)
    }
