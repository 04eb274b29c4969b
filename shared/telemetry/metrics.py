"""Prometheus metrics: a lean pure-ASGI middleware and the ``/metrics`` exposition.

Each app gets its own ``CollectorRegistry`` so that several apps in one process (tests, the
benchmark) never clash. Labels use the route template, never the raw path, to keep
cardinality bounded.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Response, get
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

REGISTRY_STATE_KEY = "metrics_registry"
UNMATCHED = "<unmatched>"


class HttpMetrics:
    """The per-service HTTP metrics: requests, errors and durations per route."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "strata_http_requests_total",
            "HTTP requests served",
            ["service", "method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "strata_http_request_duration_seconds",
            "HTTP request duration",
            ["service", "method", "route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.service = service


def metrics_middleware_factory(metrics: HttpMetrics, skip: tuple[str, ...]) -> Any:
    """A pure ASGI middleware that records one counter and one histogram sample per request."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"].startswith(skip):  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = 500

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            finally:
                handler = scope.get("route_handler")
                route = scope.get("path_template") or (
                    next(iter(handler.paths), UNMATCHED) if handler is not None else UNMATCHED
                )
                method = scope.get("method", "GET")
                metrics.requests.labels(metrics.service, method, route, str(status)).inc()
                metrics.duration.labels(metrics.service, method, route).observe(
                    time.perf_counter() - start
                )

        return handle

    return middleware


def metrics_route(registry: CollectorRegistry) -> Any:
    """The ``GET /metrics`` handler in Prometheus text format."""

    @get("/metrics", include_in_schema=False, sync_to_thread=False)
    def metrics() -> Response[bytes]:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
