"""Business metrics read from the shared Redis state at scrape time, so every replica of a
service reports the same figures (dashboards aggregate them with ``max``).

- ``strata_orders_awaiting_ack``: orders received (in flight or posted) whose ERP order
  number has not yet been acknowledged in Shopify;
- ``strata_orders_oldest_awaiting_ack_seconds``: how long the oldest of them has waited;
- ``strata_dead_letters{stream}``: entries in each dead-letter stream (``XLEN``);
- ``strata_open_exceptions``: exception records an operator has yet to deal with.

The orders service keeps the index of orders awaiting acknowledgement with
:func:`await_acknowledgement` (on receipt) and :func:`acknowledged` (once Shopify has the ERP
number): one sorted set of ``shop:order`` by the time it was first received. Counters of
events (duplicate webhooks, rate-limited requests) stay per-process counters: Prometheus sums
them across replicas.

A service exposes these figures by adding :func:`business_metrics` to its lifespans; the
``/metrics`` route of ``shared.app`` awaits the scrape hook it registers.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Litestar
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.events import stream_keys

log = logging.getLogger("strata.telemetry.business")

#: Sorted set of ``shop:order`` -> epoch seconds when first received, until acknowledged.
AWAITING_ACK_KEY = "strata:orders:awaiting-ack"
#: The orders exception queue's index of open records (``ExceptionStore`` of the orders process).
OPEN_EXCEPTIONS_KEY = "strata:orders:exceptions:index:open"
#: ``app.state`` key: async callables the ``/metrics`` route awaits before it renders.
SCRAPE_HOOKS = "scrape_hooks"


async def await_acknowledgement(
    redis: Redis,
    shop: str,
    order_id: str,
    *,
    at: float | None = None,
    key: str = AWAITING_ACK_KEY,
) -> None:
    """Count the order as awaiting acknowledgement, from its first receipt (idempotent)."""
    await redis.zadd(key, {f"{shop}:{order_id}": time.time() if at is None else at}, nx=True)


async def acknowledged(
    redis: Redis, shop: str, order_id: str, *, key: str = AWAITING_ACK_KEY
) -> None:
    """The order's ERP number is in Shopify (or it will never be: cancelled): stop counting."""
    await redis.zrem(key, f"{shop}:{order_id}")


class BusinessSnapshot:
    """The figures of one refresh."""

    __slots__ = ("awaiting", "dead_letters", "oldest_received", "open_exceptions", "taken_at")

    def __init__(
        self,
        awaiting: int,
        oldest_received: float | None,
        dead_letters: dict[str, int],
        open_exceptions: int,
        taken_at: float,
    ) -> None:
        self.awaiting = awaiting
        self.oldest_received = oldest_received
        self.dead_letters = dead_letters
        self.open_exceptions = open_exceptions
        self.taken_at = taken_at


class BusinessCollector(Collector):
    """A Prometheus collector of the business gauges; :meth:`refresh` reads Redis (one
    pipelined round trip), :meth:`collect` reports the last reading.

    A failed reading reports nothing, so the gauges go absent rather than stale.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        dead_letter_streams: Sequence[str] = (),
        awaiting_key: str = AWAITING_ACK_KEY,
        open_exceptions_key: str | None = OPEN_EXCEPTIONS_KEY,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.awaiting_key = awaiting_key
        self.open_exceptions_key = open_exceptions_key
        self.dead_letters = {name: stream_keys(name)[2] for name in dead_letter_streams}
        self.min_interval = min_interval
        self.clock = clock
        self.snapshot: BusinessSnapshot | None = None

    async def refresh(self) -> None:
        """Read the figures, unless the last reading is younger than ``min_interval``."""
        now = self.clock()
        if self.snapshot is not None and now - self.snapshot.taken_at < self.min_interval:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zcard(self.awaiting_key)
                pipe.zrange(self.awaiting_key, 0, 0, withscores=True)
                for key in self.dead_letters.values():
                    pipe.xlen(key)
                if self.open_exceptions_key is not None:
                    pipe.zcard(self.open_exceptions_key)
                replies: list[Any] = await pipe.execute()
        except RedisError as exc:
            log.warning("business metrics: could not read Redis: %s", exc)
            self.snapshot = None
            return
        awaiting, oldest, *rest = replies
        dead = {name: int(count) for name, count in zip(self.dead_letters, rest, strict=False)}
        open_exceptions = int(rest[len(dead)]) if self.open_exceptions_key is not None else 0
        self.snapshot = BusinessSnapshot(
            awaiting=int(awaiting),
            oldest_received=float(oldest[0][1]) if oldest else None,
            dead_letters=dead,
            open_exceptions=open_exceptions,
            taken_at=now,
        )

    def collect(self) -> Iterator[Metric]:
        """The gauges of the last reading (none if it failed or never happened)."""
        snap = self.snapshot
        if snap is None:
            return
        yield GaugeMetricFamily(
            "strata_orders_awaiting_ack",
            "Orders received but not yet acknowledged in Shopify with their ERP number",
            value=snap.awaiting,
        )
        age = max(0.0, snap.taken_at - snap.oldest_received) if snap.oldest_received else 0.0
        yield GaugeMetricFamily(
            "strata_orders_oldest_awaiting_ack_seconds",
            "How long the oldest order awaiting acknowledgement has waited (0: none waits)",
            value=age,
        )
        dead = GaugeMetricFamily(
            "strata_dead_letters", "Entries in a dead-letter stream", labels=["stream"]
        )
        for name, count in snap.dead_letters.items():
            dead.add_metric([name], count)
        yield dead
        if self.open_exceptions_key is not None:
            yield GaugeMetricFamily(
                "strata_open_exceptions",
                "Exception records open (not yet replayed or resolved)",
                value=snap.open_exceptions,
            )

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: the registry must not call :meth:`collect` at registration."""
        return iter(())


def business_metrics(
    redis_url: str,
    *,
    dead_letter_streams: Sequence[str] = (),
    awaiting_key: str = AWAITING_ACK_KEY,
    open_exceptions_key: str | None = OPEN_EXCEPTIONS_KEY,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan that registers a :class:`BusinessCollector` on the app's registry and its
    refresh as a scrape hook; list it in ``build_service_app(lifespan=[...])``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        collector = BusinessCollector(
            redis,
            dead_letter_streams=dead_letter_streams,
            awaiting_key=awaiting_key,
            open_exceptions_key=open_exceptions_key,
        )
        registry = app.state.metrics_registry
        registry.register(collector)
        hooks = app.state.setdefault(SCRAPE_HOOKS, [])
        hooks.append(collector.refresh)
        try:
            yield
        finally:
            hooks.remove(collector.refresh)
            registry.unregister(collector)
            await redis.aclose()

    return lifespan
