"""Prometheus metrics of the webhook ingress and of its stream retention, on the app's own
registry."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.retention import Trimmed
from shared.streams import TOPIC_FAMILIES


class IngressMetrics:
    """Accepted webhooks per topic, duplicates dropped per topic, rejections per reason."""

    def __init__(self, registry: CollectorRegistry) -> None:
        accepted = Counter(
            "strata_shopify_webhooks_accepted_total",
            "Webhooks appended to their stream",
            ["topic"],
            registry=registry,
        )
        duplicates = Counter(
            "strata_webhooks_duplicates_total",
            "Repeated deliveries of an event already appended (answered 200, not appended)",
            ["topic"],
            registry=registry,
        )
        self._rejected = Counter(
            "strata_shopify_webhooks_rejected_total",
            "Webhooks refused, by reason (the problem type's slug)",
            ["reason"],
            registry=registry,
        )
        # Children bound once: a label lookup per webhook shows on the hot path.
        self._accepted = {topic: accepted.labels(topic) for topic in TOPIC_FAMILIES}
        self._duplicates = {topic: duplicates.labels(topic) for topic in TOPIC_FAMILIES}

    def appended(self, topic: str, duplicate: bool) -> None:
        """Count one webhook that reached its stream (or was already there)."""
        (self._duplicates if duplicate else self._accepted)[topic].inc()

    def rejected(self, reason: str) -> None:
        """Count one refused webhook."""
        self._rejected.labels(reason).inc()


class RetentionMetrics:
    """What the stream retention trimmed: entries per stream, when its last pass finished,
    and passes that failed (``shared.retention``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._trimmed = Counter(
            "strata_shopify_stream_entries_trimmed_total",
            "Stream entries removed by the retention policy (acknowledged by every group)",
            ["stream"],
            registry=registry,
        )
        self._last_pass = Gauge(
            "strata_shopify_stream_last_trim_timestamp_seconds",
            "When the last pass of the retention over every webhook stream finished",
            registry=registry,
        )
        self._failures = Counter(
            "strata_shopify_stream_trim_failures_total",
            "Retention passes cut short by a Redis error",
            registry=registry,
        )

    def trimmed(self, results: Sequence[Trimmed]) -> None:
        """Count one finished pass."""
        for result in results:
            if result.removed:
                self._trimmed.labels(result.stream).inc(result.removed)
        self._last_pass.set_to_current_time()

    def failed(self) -> None:
        """Count one pass that failed."""
        self._failures.inc()
