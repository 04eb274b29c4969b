"""Orders awaiting acknowledgement: received, but Shopify does not have their ERP number yet.

One sorted set of ``shop:order`` by the time each was first received, shared by every replica
and worker, so the gauges read from it (:mod:`process_apis.orders.metrics`) agree across
replicas. An order enters it on receipt and leaves it once Shopify has its ERP order number,
or once it is cancelled (it never will have one).
"""

from __future__ import annotations

import time

from shared.events import RedisClient

#: Sorted set of ``shop:order`` -> epoch seconds when first received, until acknowledged.
AWAITING_ACK_KEY = "strata:orders:awaiting-ack"


class RedisAcknowledgements:
    """The awaiting-acknowledgement index in Redis
    (:class:`~process_apis.orders.ports.Acknowledgements`)."""

    def __init__(self, redis: RedisClient, key: str = AWAITING_ACK_KEY) -> None:
        self.redis = redis
        self.key = key

    async def awaiting(self, shop: str, order_id: str, *, at: float | None = None) -> None:
        """Count the order as awaiting acknowledgement from its first receipt (a redelivery
        keeps the first time)."""
        member = f"{shop}:{order_id}"
        await self.redis.zadd(self.key, {member: time.time() if at is None else at}, nx=True)

    async def acknowledged(self, shop: str, order_id: str) -> None:
        """Stop counting the order (its ERP number is in Shopify, or it was cancelled)."""
        await self.redis.zrem(self.key, f"{shop}:{order_id}")
