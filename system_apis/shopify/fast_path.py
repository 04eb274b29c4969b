"""``POST /shopify/v1/webhooks`` served straight from ASGI, in front of Litestar's router.

The route stays declared on the Litestar app (its OpenAPI operation, and the answer to any
request the exact match below does not take), but a delivery never reaches the router: it
needs no bearer token, no rate limit, no request object and no parameter model, and those
layers cost more per webhook than verifying and appending it. What they gave the route is
kept here: a problem document for every refusal, and the route's request count and duration
in the service's HTTP metrics.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Final

import msgspec
from litestar.enums import ScopeType
from opentelemetry.trace import Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.problems import PROBLEM_JSON, TYPE_BASE, Problem, StrataError
from shared.telemetry.asgi import server_span
from system_apis.shopify.appender import Appended

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import (
        ASGIApp,
        HTTPResponseBodyEvent,
        HTTPResponseStartEvent,
        Receive,
        Scope,
        Send,
    )
    from opentelemetry.trace import Tracer

    from shared.telemetry.spans import Tracing
    from system_apis.shopify.ingress import WebhookIngress

WEBHOOK_PATH: Final = "/shopify/v1/webhooks"
DUPLICATE_HEADER: Final = "Strata-Webhook-Duplicate"
ENTRY_HEADER: Final = "Strata-Stream-Entry"

log = logging.getLogger("strata.shopify.ingress")

_SPAN_NAME: Final = f"POST {WEBHOOK_PATH}"
_SPAN_ATTRIBUTES: Final = {"http.request.method": "POST", "http.route": WEBHOOK_PATH}

_ENTRY = ENTRY_HEADER.lower().encode()
_DUPLICATE = (DUPLICATE_HEADER.lower().encode(), b"true")
_CONTENT_TYPE = (b"content-type", b"text/plain")
_NO_CONTENT = (b"content-length", b"0")
_PROBLEM_TYPE = (b"content-type", PROBLEM_JSON.encode())
_EMPTY_BODY: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
_ENCODER = msgspec.json.Encoder()


async def send_accepted(send: Send, appended: Appended) -> None:
    """The 200 answer as two raw ASGI messages (a Response object costs more than the rest)."""
    headers = [_CONTENT_TYPE, _NO_CONTENT, (_ENTRY, appended.entry_id.encode())]
    if appended.duplicate:
        headers.append(_DUPLICATE)
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 200,
                                     "headers": headers}  # fmt: skip
    await send(start)
    await send(_EMPTY_BODY)


async def send_problem(send: Send, problem: Problem, extra: dict[str, str]) -> None:
    """An ``application/problem+json`` answer, with ``extra`` headers (e.g. Retry-After)."""
    body = _ENCODER.encode(problem)
    headers = [_PROBLEM_TYPE, (b"content-length", b"%d" % len(body))]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": problem.status,
                                     "headers": headers}  # fmt: skip
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


class RouteMetrics:
    """The webhook route's samples in the service's ``strata_http_*`` metrics, with the names
    and labels the app's metrics middleware records for every other route."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        # prometheus_client has no public lookup by name; the app registered these on its
        # registry, and one missing only means the route goes unmeasured.
        collectors = getattr(registry, "_names_to_collectors", {})
        requests = collectors.get("strata_http_requests")
        duration = collectors.get("strata_http_request_duration_seconds")
        self._requests = requests if isinstance(requests, Counter) else None
        self._duration = (
            duration.labels(service, "POST", WEBHOOK_PATH)
            if isinstance(duration, Histogram)
            else None
        )
        self._service = service
        #: Children bound on first use: a label lookup per webhook shows on the hot path.
        self._by_status: dict[int, Counter] = {}

    def observe(self, status: int, seconds: float) -> None:
        """Count one answer with ``status`` that took ``seconds``."""
        child = self._by_status.get(status)
        if child is None and self._requests is not None:
            child = self._requests.labels(self._service, "POST", WEBHOOK_PATH, str(status))
            self._by_status[status] = child
        if child is not None:
            child.inc()
        if self._duration is not None:
            self._duration.observe(seconds)


class WebhookFastPath:
    """An ASGI layer taking exactly ``POST /shopify/v1/webhooks``; all else goes on to Litestar.

    :meth:`mount` puts it in front of a built app's router; the app's lifespan sets
    :attr:`ingress` once Redis is open (until then deliveries go the Litestar way).
    """

    __slots__ = ("app", "ingress", "metrics", "tracer")

    def __init__(self) -> None:
        self.app: ASGIApp | None = None
        self.ingress: WebhookIngress | None = None
        self.metrics: RouteMetrics | None = None
        self.tracer: Tracer | None = None

    def mount(self, app: Litestar) -> None:
        """Serve the webhook route of ``app`` from here, before its router (and middleware)."""
        self.app = app.asgi_handler
        self.metrics = RouteMetrics(app.state.metrics_registry, app.state.service)
        tracing: Tracing | None = app.state.get("tracing")
        if tracing is not None and tracing.recording:
            # The server span the router's middleware would have made: the stream entry
            # then carries this span's context, so the queue wait hangs off the delivery.
            self.tracer = tracing.tracer(f"strata.{app.state.service}")
        app.asgi_handler = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ingress = self.ingress
        if (
            ingress is None
            or scope["path"] != WEBHOOK_PATH
            or scope.get("method") != "POST"
            or scope["type"] != ScopeType.HTTP
        ):
            assert self.app is not None, "mount() the fast path before serving"
            await self.app(scope, receive, send)
            return
        if self.tracer is None:
            await self._serve(ingress, scope, receive, send)
            return
        with server_span(self.tracer, _SPAN_NAME, scope["headers"], _SPAN_ATTRIBUTES) as span:
            status = await self._serve(ingress, scope, receive, send)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))

    async def _serve(
        self, ingress: WebhookIngress, scope: Scope, receive: Receive, send: Send
    ) -> int:
        started = time.perf_counter()
        try:
            appended = await ingress.receive(scope["headers"], receive)
        except StrataError as exc:
            status = exc.status
            await send_problem(send, exc.to_problem(instance=WEBHOOK_PATH), exc.headers)
        except Exception:
            # Every answer of this API is a problem document, a surprise included (as the
            # app's own handler does for routes behind the router); it is logged, not hidden.
            log.exception("unhandled error on POST %s", WEBHOOK_PATH)
            status = 500
            await send_problem(send, _internal_error(), {})
        else:
            status = 200
            await send_accepted(send, appended)
        if self.metrics is not None:
            self.metrics.observe(status, time.perf_counter() - started)
        return status


def _internal_error() -> Problem:
    return Problem(
        type=TYPE_BASE + "internal-error",
        title="Internal error",
        status=500,
        detail="An unexpected error occurred; it has been logged.",
        instance=WEBHOOK_PATH,
    )
