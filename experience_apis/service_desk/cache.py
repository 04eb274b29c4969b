"""A short-lived Redis cache of finished answers, which knows how old each one is.

One ``SET`` with expiry per write and one ``GET`` per read; the value is the storing instant
and the encoded answer. Redis being down never fails a request: the answer is then computed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("strata.service_desk.cache")


class CachedAnswer:
    __slots__ = ("age", "body")

    def __init__(self, body: bytes, age: float) -> None:
        self.body = body
        self.age = age


class AnswerCache:
    def __init__(
        self, redis: Redis, prefix: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self._clock = clock

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def get(self, key: str) -> CachedAnswer | None:
        """The stored answer and its age in seconds, or None (also while Redis is down)."""
        try:
            raw = await self.redis.get(key)
        except RedisError as exc:
            log.warning("cache read failed, answering fresh: %s", exc)
            return None
        if not raw:
            return None
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        stamp, _, body = data.partition(b"|")
        try:
            stored_at = float(stamp)
        except ValueError:
            return None
        return CachedAnswer(body, max(0.0, self._clock() - stored_at))

    async def put(self, key: str, body: bytes, ttl: float) -> None:
        """Keep ``body`` for ``ttl`` seconds; a failure to store is logged, not raised."""
        value = f"{self._clock():.6f}|".encode() + body
        try:
            await self.redis.set(key, value, px=max(1, int(ttl * 1000)))
        except RedisError as exc:
            log.warning("cache write failed: %s", exc)
