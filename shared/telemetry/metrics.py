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
    """The per-service HTTP metrics: requests, errors and durations per route.

    :meth:`observe` binds each (method, route, status) to its counter and histogram children
    on first use: ``labels()`` costs a few microseconds a call (label validation, a lock),
    twice a request before, a dict lookup now.
    """

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
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answer with ``status`` on ``method route`` that took ``seconds``."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(self.service, method, route, str(status)),
                self.duration.labels(self.service, method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def route_of(scope: Scope) -> str:
    """The route template a request matched (``UNMATCHED`` before or without routing)."""
    template: str | None = scope.get("path_template")
    if template:
        return template
    handler = scope.get("route_handler")
    return next(iter(handler.paths), UNMATCHED) if handler is not None else UNMATCHED


def metrics_middleware_factory(metrics: HttpMetrics, skip: tuple[str, ...]) -> Any:
    """A pure ASGI middleware that records one counter and one histogram sample per request.

    Where tracing is on, :class:`~shared.telemetry.asgi.ServerSpanMiddleware` records the same
    samples in its own layer instead (one layer a request, not two).
    """

    def middleware(app: ASGIApp) -> ASGIApp:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"].startswith(skip):  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = 0

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_wrapper)
            except BaseException as exc:
                status = status or status_of(exc)
                raise
            finally:
                metrics.observe(
                    str(scope.get("method", "GET")),
                    route_of(scope),
                    status or 500,
                    time.perf_counter() - start,
                )

        return handle

    return middleware


def status_of(exc: BaseException) -> int:
    """The HTTP status an exception leaving the app becomes (500 unless it names one)."""
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    return status if isinstance(status, int) else 500


def metrics_route(registry: CollectorRegistry) -> Any:
    """The ``GET /metrics`` handler in Prometheus text format."""

    @get("/metrics", include_in_schema=False, sync_to_thread=False)
    def metrics() -> Response[bytes]:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
