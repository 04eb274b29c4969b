"""Fulfillment's business metrics: shipments not yet in Shopify (a gauge read from Redis at
scrape time, the same on every replica) and the fulfillment lag (a histogram of the process
that made each fulfillment: dashboards sum it over replicas)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.asyncio.client import Pipeline

from process_apis.orders.fulfillment.feed import PENDING_KEY

LAG_BUCKETS = (0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 900, 3600)


class PendingShipments:
    """``strata_fulfillment_pending_shipments`` and
    ``strata_fulfillment_oldest_pending_seconds``: ERP shipments that left and have no
    Shopify fulfillment yet (failed ones included, until an operator's replay lands)."""

    def __init__(self, key: str = PENDING_KEY) -> None:
        self.key = key

    def queue(self, pipe: Pipeline) -> int:
        pipe.zcard(self.key)
        pipe.zrange(self.key, 0, 0, withscores=True)
        return 2

    def families(self, replies: Sequence[Any], taken_at: float) -> Iterator[Metric]:
        count, oldest = replies
        yield GaugeMetricFamily(
            "strata_fulfillment_pending_shipments",
            "ERP shipments that left and are not yet a Shopify fulfillment",
            value=int(count),
        )
        first = float(oldest[0][1]) if oldest else None
        yield GaugeMetricFamily(
            "strata_fulfillment_oldest_pending_seconds",
            "How long the oldest shipment not yet in Shopify has waited (0: none waits)",
            value=max(0.0, taken_at - first) if first else 0.0,
        )


def lag_histogram(registry: CollectorRegistry) -> Callable[[float], None]:
    """``strata_fulfillment_lag_seconds`` on ``registry``; returns its ``observe``."""
    histogram = Histogram(
        "strata_fulfillment_lag_seconds",
        "ERP shipment shipped to Shopify fulfillment created",
        registry=registry,
        buckets=LAG_BUCKETS,
    )
    return histogram.observe
