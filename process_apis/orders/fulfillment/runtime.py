"""The fulfillment parts of an orders process: the follower, the sender and its worker.

:func:`fulfillment_parts` builds them on the clients and stores the orders runtime already
has; :class:`FulfillmentParts` runs the follower and the shipments stream worker together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from process_apis.orders.exceptions import ExceptionStore
from process_apis.orders.fulfillment.feed import ShipmentFollower
from process_apis.orders.fulfillment.records import FulfillmentRecords
from process_apis.orders.fulfillment.sender import FulfillmentSender
from process_apis.orders.fulfillment.settings import FulfillmentSettings
from process_apis.orders.pipeline import PipelineStore
from shared.events import RedisClient, StreamWorker
from shared.sibling import NO_RETRIES, SiblingClient
from shared.streams import SHIPMENTS_STREAM


@dataclass(slots=True)
class FulfillmentParts:
    """What follows ERP shipments and sends them to Shopify, in one process."""

    settings: FulfillmentSettings
    records: FulfillmentRecords
    sender: FulfillmentSender
    follower: ShipmentFollower
    redis: RedisClient
    lag: list[Callable[[float], None]]

    def worker(self, consumer: str | None = None) -> StreamWorker:
        """A worker of the shipments stream (several processes may run one each)."""
        return StreamWorker(
            self.redis,
            SHIPMENTS_STREAM,
            self.settings.consumer_group,
            self.sender.handle,
            consumer=consumer,
            concurrency=self.settings.worker_concurrency,
            batch=self.settings.worker_concurrency,
            claim_idle=self.settings.claim_idle,
            max_attempts=self.settings.max_attempts,
            base_delay=self.settings.retry_base_delay,
            max_delay=self.settings.retry_max_delay,
            on_dead_letter=self.sender.on_dead_letter,
        )

    def observe_lag(self, seconds: float) -> None:
        for observe in self.lag:
            observe(seconds)


def fulfillment_parts(
    redis: RedisClient,
    settings: FulfillmentSettings,
    *,
    erp_http: Mapping[str, httpx.AsyncClient],
    shopify_http: httpx.AsyncClient,
    pipeline: PipelineStore,
    exceptions: ExceptionStore,
) -> FulfillmentParts:
    """The parts, over the orders runtime's clients (the worker owns retries: none here)."""
    records = FulfillmentRecords(redis)
    lag: list[Callable[[float], None]] = []
    erps = {
        name: SiblingClient(f"erp {name}", client, retry=NO_RETRIES)
        for name, client in erp_http.items()
    }
    shopify = SiblingClient("shopify", shopify_http, retry=NO_RETRIES)
    parts = FulfillmentParts(
        settings=settings,
        records=records,
        sender=FulfillmentSender(
            redis,
            shopify,
            settings,
            records=records,
            pipeline=pipeline,
            exceptions=exceptions,
        ),
        follower=ShipmentFollower(redis, erps, settings),
        redis=redis,
        lag=lag,
    )
    parts.sender.on_lag = parts.observe_lag
    return parts


class Workers:
    """The orders stream worker, and (when enabled) the shipment follower and the shipments
    stream worker, run and stopped together."""

    def __init__(self, orders: StreamWorker, fulfillment: FulfillmentParts | None) -> None:
        self.orders = orders
        self.fulfillment = fulfillment
        self.shipments = fulfillment.worker() if fulfillment is not None else None

    async def run(self) -> None:
        """Until :meth:`stop`; if one part ends with an error the others are stopped."""
        tasks = [asyncio.create_task(self.orders.run())]
        if self.fulfillment is not None and self.shipments is not None:
            tasks.append(asyncio.create_task(self.shipments.run()))
            tasks.append(asyncio.create_task(self.fulfillment.follower.run()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            await asyncio.gather(*tasks)
        finally:
            self.stop()
            for task in tasks:
                if not task.done():
                    await asyncio.wait([task], timeout=30)

    def stop(self) -> None:
        self.orders.stop()
        if self.shipments is not None:
            self.shipments.stop()
        if self.fulfillment is not None:
            self.fulfillment.follower.stop()
