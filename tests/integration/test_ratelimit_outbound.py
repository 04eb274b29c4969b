"""Outbound limits through a real Redis: ERP throughput and Shopify's cost bucket."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from shared.ratelimit import CostBucket, OutboundWaitTooLong, TokenBucket, open_redis
from tests.support.event_loops import BOTH_LOOPS_QUIET, event_loop_policy  # noqa: F401

pytestmark = [pytest.mark.integration, BOTH_LOOPS_QUIET]


async def test_two_consumers_never_exceed_the_erp_rate(redis_url: str) -> None:
    rate, burst, run_for = 40.0, 2, 2.0
    name = f"erp:{uuid.uuid4().hex[:8]}"
    clients = [open_redis(redis_url, socket_timeout=1) for _ in range(2)]
    buckets = [TokenBucket(c, name, rate=rate, burst=burst, max_wait=5) for c in clients]
    loop = asyncio.get_running_loop()
    posted: list[float] = []
    deadline = loop.time() + run_for

    async def post_sales_orders(bucket: TokenBucket) -> None:
        while loop.time() < deadline:
            await bucket.acquire()
            posted.append(loop.time())

    started = loop.time()
    await asyncio.gather(*(post_sales_orders(b) for b in buckets for _ in range(3)))
    for c in clients:
        await c.aclose()
    posted.sort()
    window = 0.5
    # A late wake-up can bring two starts closer, never more of them into one window.
    allowed = burst + int(rate * window + 1e-9)
    busiest = max(sum(1 for t in posted if s <= t < s + window) for s in posted)
    assert busiest <= allowed
    elapsed = posted[-1] - started
    assert len(posted) <= burst + rate * elapsed + 1
    assert len(posted) >= 0.9 * rate * run_for


async def test_a_wait_beyond_the_limit_raises_without_booking(redis_url: str) -> None:
    client = open_redis(redis_url, socket_timeout=1)
    bucket = TokenBucket(client, f"erp:{uuid.uuid4().hex[:8]}", rate=1, burst=1, max_wait=0.5)
    assert await bucket.acquire() == 0
    with pytest.raises(OutboundWaitTooLong) as refused:
        await bucket.acquire()
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "1"
    await client.aclose()


@dataclass
class SimulatedShopify:
    """Shopify's documented leaky bucket: the requested cost is taken up front (THROTTLED
    if not available), the unused part refunded when the query finishes, and
    ``throttleStatus`` reports the bucket after that."""

    size: float
    restore_rate: float
    available: float = 0.0
    updated: float = 0.0
    spent: float = 0.0
    throttled: int = 0
    calls: int = 0
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)

    def __post_init__(self) -> None:
        self.available = self.size
        self.updated = self.loop.time()

    def _refill(self) -> None:
        now = self.loop.time()
        self.available = min(self.size, self.available + (now - self.updated) * self.restore_rate)
        self.updated = now

    async def query(self, requested: int, actual: int) -> dict[str, object]:
        self._refill()
        if self.available < requested:
            self.throttled += 1
            charged = 0
        else:
            self.available -= requested
            self.calls += 1
            await asyncio.sleep(random.uniform(0.002, 0.02))
            self._refill()
            self.available += requested - actual
            self.spent += actual
            charged = actual
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": charged,
            "throttleStatus": {
                "maximumAvailable": self.size,
                "currentlyAvailable": self.available,
                "restoreRate": self.restore_rate,
            },
        }


@pytest.mark.slow
async def test_cost_bucket_uses_the_restore_rate_without_being_throttled(redis_url: str) -> None:
    # Shopify's 50 points/s and 100-point bucket, run ten times faster.
    scale = 10
    shopify = SimulatedShopify(size=100, restore_rate=50 * scale)
    shop = f"{uuid.uuid4().hex[:8]}.myshopify.com"
    replicas = [open_redis(redis_url, socket_timeout=1) for _ in range(2)]
    buckets = [
        CostBucket(r, shop, maximum_available=100, restore_rate=50 * scale, max_wait=5)
        for r in replicas
    ]
    loop = asyncio.get_running_loop()
    run_for = 3.0
    deadline = loop.time() + run_for

    async def push_inventory_updates(bucket: CostBucket) -> None:
        while loop.time() < deadline:
            requested = random.randint(8, 22)
            reservation = await bucket.reserve(requested)
            cost = await shopify.query(requested, actual=requested - random.randint(0, 6))
            await bucket.observe(
                cost["throttleStatus"],  # type: ignore[arg-type]
                cost["actualQueryCost"],  # type: ignore[arg-type]
                requested,
                reservation=reservation,
            )

    started = loop.time()
    await asyncio.gather(*(push_inventory_updates(b) for b in buckets for _ in range(3)))
    elapsed = loop.time() - started
    for r in replicas:
        await r.aclose()
    utilisation = (shopify.spent - shopify.size) / (shopify.restore_rate * elapsed)
    assert shopify.throttled == 0
    assert shopify.calls > 100
    assert utilisation >= 0.95, utilisation


async def test_cost_bucket_follows_a_lower_reported_balance(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    bucket = CostBucket(client, f"{uuid.uuid4().hex[:8]}.myshopify.com", maximum_available=1000,
                        restore_rate=50, max_wait=0.2)  # fmt: skip
    first = await bucket.reserve(100)
    assert first.waited == 0
    # Someone else drained the bucket: Shopify says only 10 points are left.
    points = await bucket.observe(
        {"maximumAvailable": 1000, "currentlyAvailable": 10, "restoreRate": 50},
        100,
        100,
        reservation=first,
    )
    assert points == pytest.approx(10, abs=0.5)
    with pytest.raises(OutboundWaitTooLong):
        await bucket.reserve(100)  # 90 points short: 1.8 s at 50/s, over the 0.2 s limit
    second = await bucket.reserve(15)
    assert 0.05 < second.waited < 0.2
    with pytest.raises(ValueError, match="never fit"):
        await bucket.reserve(1001)
    await client.aclose()


async def test_a_bucket_reported_as_not_refilling_is_no_error(redis_url: str) -> None:
    """A restore rate of 0 (never Shopify's; a sandbox can report it) books and observes
    without a division by zero; a booking it can't pay in time is refused, not a crash."""
    client = Redis.from_url(redis_url)
    bucket = CostBucket(client, f"{uuid.uuid4().hex[:8]}.myshopify.com", maximum_available=100,
                        restore_rate=50, max_wait=0.2)  # fmt: skip
    first = await bucket.reserve(60)
    points = await bucket.observe(
        {"maximumAvailable": 100, "currentlyAvailable": 40, "restoreRate": 0},
        60,
        60,
        reservation=first,
    )
    assert points == pytest.approx(40, abs=0.5)
    assert (await bucket.reserve(30)).waited == 0
    with pytest.raises(OutboundWaitTooLong):
        await bucket.reserve(30)  # 20 points short, and nothing refills
    await client.aclose()
