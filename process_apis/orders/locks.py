"""The order lock: one handler per order at a time, across workers and replicas.

orders/create and an orders/paid right behind it must not both post (they may carry
different snapshots), so each entry is handled under its order's lock.

A lease can run out under a holder that is still working (a long pause, a slow ERP), and a
second worker then takes the lock. Each hold therefore draws a fencing token, a per-order
counter in Redis; the pipeline refuses records made under a token older than the newest
drawn (:mod:`process_apis.orders.pipeline`), so the stale holder cannot write over the newer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from process_apis.orders.pipeline import KEEP_FOR, fence_key
from shared.events import RedisClient
from shared.idempotency import IdempotencyStore

LOCK_PREFIX = "strata:orders"
# A waiter gives up after this long (the entry is then retried by the stream worker).
WAIT_FOR_HOLDER = 60.0


class RedisOrderLocks:
    """Order locks in Redis (:class:`~process_apis.orders.ports.OrderLocks`).

    ``ttl`` outlasts the slowest handling; a crashed holder delays its order by at most
    that long. Work that outlives it is still safe: posting is idempotent, and the fencing
    token keeps the late holder from recording. ``prefix`` must be the pipeline store's.
    """

    def __init__(self, redis: RedisClient, *, ttl: float, prefix: str = LOCK_PREFIX) -> None:
        self.store = IdempotencyStore(redis, prefix, wait_for_pending=WAIT_FOR_HOLDER)
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl

    @contextlib.asynccontextmanager
    async def hold(self, shop: str, order_id: str) -> AsyncIterator[int]:
        """Hold the order's lock for the block, which receives the hold's fencing token."""
        async with self.store.exclusive(f"order:{shop}:{order_id}", ttl=self.ttl):
            yield await self._draw_token(shop, order_id)

    async def _draw_token(self, shop: str, order_id: str) -> int:
        key = fence_key(self.prefix, shop, order_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            # Kept as long as the order's records: a counter that restarted would let an old
            # token pass again.
            pipe.expire(key, KEEP_FOR)
            token, _ = await pipe.execute()
        return int(token)
