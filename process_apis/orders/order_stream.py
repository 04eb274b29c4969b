"""The orders stream as the service writes to it: replays and channel orders, typed entries."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.events import publish
from shared.streams import StreamEntry, encode_entry


class RedisOrderStream:
    """Appends typed entries to the orders stream
    (:class:`~process_apis.orders.ports.OrderStream`)."""

    def __init__(self, redis: Redis, stream: str) -> None:
        self.redis = redis
        self.stream = stream

    async def append(self, entry: StreamEntry) -> str:
        """Append the entry (with the current trace context unless it carries one)."""
        return await publish(self.redis, self.stream, encode_entry(entry))
