"""Client spans for httpx: :class:`TracedTransport` wraps an httpx transport
(``shared.http.make_client`` does) and injects ``traceparent`` into each outbound request.
"""

from __future__ import annotations

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared.telemetry.context import TRACEPARENT, format_traceparent


class TracedTransport(httpx.AsyncBaseTransport):
    """An httpx transport wrapper: one CLIENT span per request, ``traceparent`` injected."""

    def __init__(self, inner: httpx.AsyncBaseTransport, tracer: trace.Tracer) -> None:
        self.inner = inner
        self.tracer = tracer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` inside a client span, as a child of the current span."""
        url = request.url
        span = self.tracer.start_span(
            request.method,
            None,
            SpanKind.CLIENT,
            {
                "http.request.method": request.method,
                "server.address": url.host,
                "url.path": url.path,
            },
        )
        request.headers[TRACEPARENT] = format_traceparent(span.get_span_context())
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            if span.is_recording():
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        if span.is_recording():
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
        span.end()
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()
