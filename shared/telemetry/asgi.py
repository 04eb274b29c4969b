"""Server spans for ASGI apps: one SERVER span per request, named by the route template.

:class:`ServerSpanMiddleware` (pure ASGI, installed by :class:`TracingPlugin`, outermost)
extracts ``traceparent``, names the span by the route template, records the status and
makes the span current, so a handler that enqueues work writes
:func:`~shared.telemetry.context.current_traceparent` into the message and the consumer
continues this span. It also records the request's HTTP metrics when given them: one layer,
one ``send`` wrapper and one clock a request instead of two of each. :func:`server_span`
does the same for a path that bypasses the router.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from litestar.config.app import AppConfig
from litestar.middleware import DefineMiddleware
from litestar.plugins import InitPluginProtocol
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.telemetry.context import CORRELATION_ID, parent_context
from shared.telemetry.metrics import HttpMetrics, metrics_middleware_factory, route_of, status_of
from shared.telemetry.spans import Tracing

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

CORRELATION_HEADER = b"x-correlation-id"
_TRACEPARENT_B = b"traceparent"


class ServerSpanMiddleware:
    """One SERVER span per HTTP request, named ``<METHOD> <route template>``, and the
    request's HTTP metrics (``metrics``) in the same layer.

    Probe paths get neither. The span is current while the request runs, so outbound calls
    and enqueued messages continue it.
    """

    def __init__(
        self,
        app: ASGIApp,
        tracer: trace.Tracer,
        skip: tuple[str, ...] = (),
        metrics: HttpMetrics | None = None,
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.skip = skip
        self.metrics = metrics
        self._names: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}

    def _name(self, method: str, template: str) -> tuple[str, dict[str, str]]:
        key = (method, template)
        found = self._names.get(key)
        if found is None:
            found = (
                f"{method} {template}",
                {"http.request.method": method, "http.route": template},
            )
            self._names[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip):  # type: ignore[comparison-overlap]
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming: bytes | None = None
        correlation: bytes | None = None
        for header, value in scope["headers"]:
            if header == _TRACEPARENT_B:
                incoming = value
            elif header == CORRELATION_HEADER:
                correlation = value
        method = str(scope.get("method", "GET"))
        route = route_of(scope)
        name, attributes = self._name(method, route)
        span = self.tracer.start_span(name, parent_context(incoming), SpanKind.SERVER, attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        bound = CORRELATION_ID.set(correlation.decode("latin-1")[:128]) if correlation else None
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            status = status or status_of(exc)
            raise
        finally:
            status = status or 500
            if bound is not None:
                CORRELATION_ID.reset(bound)
            otel_context.detach(token)
            if span.is_recording():
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
            if self.metrics is not None:
                self.metrics.observe(method, route, status, time.perf_counter() - start)


@contextlib.contextmanager
def server_span(
    tracer: trace.Tracer,
    name: str,
    headers: Iterable[tuple[bytes, bytes]],
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span]:
    """A SERVER span for an ASGI path that bypasses the router and with it the middleware
    (the webhook fast path): continues the request's ``traceparent``, current meanwhile.
    The caller records ``http.response.status_code``."""
    incoming = next((value for header, value in headers if header == _TRACEPARENT_B), None)
    span = tracer.start_span(name, parent_context(incoming), SpanKind.SERVER, attributes)
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        otel_context.detach(token)
        span.end()


class TracingPlugin(InitPluginProtocol):
    """Installs :class:`ServerSpanMiddleware` outermost; list it after every other plugin
    that inserts middleware at the front (``AuthPlugin``), so auth time is in the span.

    Given ``metrics``, the same layer records them (a metrics-only layer when tracing is
    off), so they count what authentication refuses too.
    """

    def __init__(
        self,
        tracing: Tracing,
        service: str,
        skip: Sequence[str] = (),
        *,
        metrics: HttpMetrics | None = None,
    ) -> None:
        self.tracing = tracing
        self.service = service
        self.skip = tuple(skip)
        self.metrics = metrics

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Put the server-span middleware first, unless tracing is off."""
        if self.tracing.enabled:
            tracer = self.tracing.tracer(f"strata.{self.service}")
            layer: Any = DefineMiddleware(
                ServerSpanMiddleware, tracer=tracer, skip=self.skip, metrics=self.metrics
            )
        elif self.metrics is not None:
            layer = metrics_middleware_factory(self.metrics, self.skip)
        else:
            return app_config
        app_config.middleware.insert(0, layer)
        return app_config
