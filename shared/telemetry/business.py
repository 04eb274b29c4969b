"""Business gauges read from the shared Redis state at scrape time, so every replica of a
service reports the same figures (dashboards aggregate them with ``max``).

The kernel holds the plumbing only. A service describes its figures as :class:`Reading` s
(which Redis commands to send, and which gauges their replies make) and lists
:func:`business_metrics` with them in its lifespans; the ``/metrics`` route of ``shared.app``
awaits the scrape hook it registers, which sends every reading's commands in one pipelined
round trip. :class:`DeadLetters` is the one reading every stream consumer shares:
``strata_dead_letters{stream}``, the entries in each dead-letter stream (``XLEN``). A
service's own figures (the orders process's orders awaiting acknowledgement, its open
exceptions) live in that service.

Counters of events (duplicate webhooks, rate-limited requests) stay per-process counters:
Prometheus sums them across replicas.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from litestar import Litestar
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from shared.events import stream_keys

log = logging.getLogger("strata.telemetry.business")

#: ``app.state`` key: async callables the ``/metrics`` route awaits before it renders.
SCRAPE_HOOKS = "scrape_hooks"


class Reading(Protocol):
    """Gauges read from Redis at scrape time: the commands to send, and what they make."""

    def queue(self, pipe: Pipeline) -> int:
        """Queue this reading's commands on ``pipe``; return how many were queued."""

    def families(self, replies: Sequence[Any], taken_at: float) -> Iterator[Metric]:
        """The gauges made of this reading's replies (in the order queued)."""


class DeadLetters:
    """``strata_dead_letters{stream}``: entries in the dead-letter stream of each stream."""

    def __init__(self, streams: Sequence[str]) -> None:
        self.keys = {name: stream_keys(name).dead_letters for name in streams}

    def queue(self, pipe: Pipeline) -> int:
        """One ``XLEN`` per dead-letter stream."""
        for key in self.keys.values():
            pipe.xlen(key)
        return len(self.keys)

    def families(self, replies: Sequence[Any], taken_at: float) -> Iterator[Metric]:
        """One gauge family, one sample per stream (labelled with the stream's name)."""
        dead = GaugeMetricFamily(
            "strata_dead_letters", "Entries in a dead-letter stream", labels=["stream"]
        )
        for name, count in zip(self.keys, replies, strict=True):
            dead.add_metric([name], int(count))
        yield dead


class _Snapshot:
    """The replies of one refresh, per reading."""

    __slots__ = ("replies", "taken_at")

    def __init__(self, replies: list[Sequence[Any]], taken_at: float) -> None:
        self.replies = replies
        self.taken_at = taken_at


class BusinessCollector(Collector):
    """A Prometheus collector of readings; :meth:`refresh` reads Redis (one pipelined round
    trip for every reading), :meth:`collect` reports the last reading.

    A failed reading reports nothing, so the gauges go absent rather than stale.
    """

    def __init__(
        self,
        redis: Redis,
        readings: Sequence[Reading],
        *,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.readings = list(readings)
        self.min_interval = min_interval
        self.clock = clock
        self.snapshot: _Snapshot | None = None

    async def refresh(self) -> None:
        """Read the figures, unless the last reading is younger than ``min_interval``."""
        now = self.clock()
        if self.snapshot is not None and now - self.snapshot.taken_at < self.min_interval:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                counts = [reading.queue(pipe) for reading in self.readings]
                replies: list[Any] = await pipe.execute()
        except RedisError as exc:
            log.warning("business metrics: could not read Redis: %s", exc)
            self.snapshot = None
            return
        per_reading: list[Sequence[Any]] = []
        start = 0
        for count in counts:
            per_reading.append(replies[start : start + count])
            start += count
        self.snapshot = _Snapshot(per_reading, now)

    def collect(self) -> Iterator[Metric]:
        """The gauges of the last reading (none if it failed or never happened)."""
        snap = self.snapshot
        if snap is None:
            return
        for reading, replies in zip(self.readings, snap.replies, strict=True):
            yield from reading.families(replies, snap.taken_at)

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: the registry must not call :meth:`collect` at registration."""
        return iter(())


def business_metrics(
    redis_url: str, readings: Sequence[Reading], *, cluster: bool = False
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan that registers a :class:`BusinessCollector` of ``readings`` on the app's
    registry and its refresh as a scrape hook; list it in ``build_service_app(lifespan=[...])``.
    ``cluster`` reads through a Redis Cluster client (each key from the node holding it).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Its own connection with short timeouts: a scrape must not wait on a busy pool.
        redis: Any = (
            RedisCluster.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            if cluster
            else Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        )
        collector = BusinessCollector(redis, readings)
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
