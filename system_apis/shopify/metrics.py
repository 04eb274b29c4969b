"""Prometheus counters of the webhook ingress, on the app's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

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
