"""The lock on an external reference outlives a post that timed out (real Redis)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from shared.idempotency import IdempotencyStore
from shared.problems import Conflict, UpstreamTimeout

pytestmark = [pytest.mark.integration]


async def test_a_timed_out_call_keeps_the_lock_and_any_other_failure_releases_it(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    store = IdempotencyStore(redis, "test:lock", wait_for_pending=0.2)
    try:
        with pytest.raises(ValueError, match="refused"):
            async with store.exclusive("eu:ref:a", keep_on=(UpstreamTimeout,)):
                raise ValueError("refused")
        async with store.exclusive("eu:ref:a"):
            pass  # released: taken again at once

        with pytest.raises(UpstreamTimeout):
            async with store.exclusive("eu:ref:b", ttl=30, keep_on=(UpstreamTimeout,)):
                raise UpstreamTimeout("the ERP did not answer")
        # The ERP may still be creating it: nobody else may start before the lock expires.
        with pytest.raises(Conflict):
            async with store.exclusive("eu:ref:b"):
                pass
        assert 0 < await redis.pttl("test:lock:lock:{eu:ref:b}") <= 30_000
    finally:
        await redis.aclose()
