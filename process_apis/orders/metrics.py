"""The orders process's business gauges, read from Redis at scrape time (every replica reports
the same figures; dashboards take the ``max``):

- ``strata_orders_awaiting_ack``: orders received (in flight or posted) whose ERP order
  number has not yet been acknowledged in Shopify (:mod:`process_apis.orders.acknowledgements`);
- ``strata_orders_oldest_awaiting_ack_seconds``: how long the oldest of them has waited;
- ``strata_open_exceptions``: exception records an operator has yet to deal with;
- ``strata_fulfillment_pending_shipments`` and ``strata_fulfillment_oldest_pending_seconds``:
  ERP shipments not yet reflected in Shopify
  (:class:`~process_apis.orders.fulfillment.metrics.PendingShipments`);
- ``strata_dead_letters{stream}``: entries in the orders stream's dead letters (the kernel's
  :class:`shared.telemetry.business.DeadLetters`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Litestar
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.asyncio.client import Pipeline

from process_apis.orders.acknowledgements import AWAITING_ACK_KEY
from process_apis.orders.exceptions import EXCEPTIONS_PREFIX, index_key
from process_apis.orders.fulfillment.metrics import PendingShipments
from shared.telemetry.business import DeadLetters, Reading, business_metrics


class AwaitingAcknowledgement:
    """``strata_orders_awaiting_ack`` and ``strata_orders_oldest_awaiting_ack_seconds``."""

    def __init__(self, key: str = AWAITING_ACK_KEY) -> None:
        self.key = key

    def queue(self, pipe: Pipeline) -> int:
        """How many orders wait, and the oldest of them."""
        pipe.zcard(self.key)
        pipe.zrange(self.key, 0, 0, withscores=True)
        return 2

    def families(self, replies: Sequence[Any], taken_at: float) -> Iterator[Metric]:
        """The count, and the oldest one's age (0 when none waits)."""
        awaiting, oldest = replies
        yield GaugeMetricFamily(
            "strata_orders_awaiting_ack",
            "Orders received but not yet acknowledged in Shopify with their ERP number",
            value=int(awaiting),
        )
        received = float(oldest[0][1]) if oldest else None
        yield GaugeMetricFamily(
            "strata_orders_oldest_awaiting_ack_seconds",
            "How long the oldest order awaiting acknowledgement has waited (0: none waits)",
            value=max(0.0, taken_at - received) if received else 0.0,
        )


class OpenExceptions:
    """``strata_open_exceptions``: records in the exception queue's open index."""

    def __init__(self, prefix: str = EXCEPTIONS_PREFIX) -> None:
        self.key = index_key("open", prefix)

    def queue(self, pipe: Pipeline) -> int:
        """The size of the open index."""
        pipe.zcard(self.key)
        return 1

    def families(self, replies: Sequence[Any], taken_at: float) -> Iterator[Metric]:
        """One gauge."""
        yield GaugeMetricFamily(
            "strata_open_exceptions",
            "Exception records open (not yet replayed or resolved)",
            value=int(replies[0]),
        )


def orders_metrics(
    redis_url: str,
    *,
    dead_letter_streams: Sequence[str],
    awaiting_key: str = AWAITING_ACK_KEY,
    exceptions_prefix: str = EXCEPTIONS_PREFIX,
    cluster: bool = False,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The lifespan that reports the orders gauges on the app's ``/metrics``."""
    readings: list[Reading] = [
        AwaitingAcknowledgement(awaiting_key),
        DeadLetters(dead_letter_streams),
        OpenExceptions(exceptions_prefix),
        PendingShipments(),
    ]
    return business_metrics(redis_url, readings, cluster=cluster)
