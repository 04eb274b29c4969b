"""Prometheus counters of rate limiting; pass a CollectorRegistry to keep tests apart."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter


class RateLimitMetrics:
    """``strata_ratelimit_redis_failures_total`` and ``strata_ratelimited_requests_total``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        target = REGISTRY if registry is None else registry
        self.redis_failures = Counter(
            "strata_ratelimit_redis_failures_total",
            "Requests decided without Redis (Redis failed or is in its back-off), by policy "
            "and by what the policy did (open: in-process limiter, closed: 503)",
            ["policy", "mode"],
            registry=target,
        )
        self.limited = Counter(
            "strata_ratelimited_requests_total",
            "Requests refused with 429 by a rate-limit policy",
            ["policy", "client"],
            registry=target,
        )
