"""The order lock: one handler per order at a time, across workers and replicas.

orders/create and an orders/paid right behind it must not both post (they may carry
different snapshots), so each entry is handled under its order's lock.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from redis.asyncio import Redis

from shared.idempotency import IdempotencyStore

LOCK_PREFIX = "strata:orders"
# A waiter gives up after this long (the entry is then retried by the stream worker).
WAIT_FOR_HOLDER = 60.0


class RedisOrderLocks:
    """Order locks in Redis (:class:`~process_apis.orders.ports.OrderLocks`).

    ``ttl`` outlasts the slowest handling; a crashed holder delays its order by at most
    that long. Work that outlives it is still safe: posting is idempotent.
    """

    def __init__(self, redis: Redis, *, ttl: float, prefix: str = LOCK_PREFIX) -> None:
        self.store = IdempotencyStore(redis, prefix, wait_for_pending=WAIT_FOR_HOLDER)
        self.ttl = ttl

    def hold(self, shop: str, order_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the order's lock for the block."""
        return self.store.exclusive(f"order:{shop}:{order_id}", ttl=self.ttl)
