"""The one way Strata services make outbound HTTP clients.

Timeouts are always explicit, connections are pooled, and every outbound request gets one
client span and a W3C ``traceparent`` header, as a child of the current span (the request or
stream entry in hand). :func:`make_client` returns an ``httpx.AsyncClient`` (a
:class:`LeanAsyncClient`), so callers keep httpx's API, its errors and its test doubles.

What a proxied call costs here: the gateway benchmark's route with its controls off, one
worker on uvloop, went from about 400 µs of CPU a request (2,500 requests/s) with httpx over
aiohttp (``httpx-aiohttp``) to about 190 µs (5,500/s) with :class:`LeanAsyncClient` over
:class:`LeanTransport`, against about 160 µs for a bare Litestar route calling aiohttp
directly. httpx's client machinery (URL merging and re-parsing, auth and redirect generators,
event hooks, the cookie jar, streaming wrappers) was the largest part: over a transport that
does nothing, ``get()`` costs about 110 µs through httpx's path and a quarter of that
through the short one. ``transport="aiohttp"`` and ``"httpx"`` remain for what the lean
transport leaves out (HTTP proxies, HTTP/2; streamed uploads of unknown length are read into
memory first).

The parts live by concern: the client (:mod:`shared.http_client`), the transport
(:mod:`shared.http_transport`) and the timeouts and pool limits (:mod:`shared.http_timeouts`);
this module makes clients from them and is where callers import them from.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from shared.http_client import URL_CACHE_SIZE, LeanAsyncClient
from shared.http_timeouts import HttpClientSettings, Transport
from shared.http_transport import LeanTransport
from shared.telemetry.httpx_transport import TracedTransport
from shared.telemetry.spans import Tracing, process_tracing

__all__ = [
    "URL_CACHE_SIZE",
    "HttpClientSettings",
    "LeanAsyncClient",
    "LeanTransport",
    "StaticBearer",
    "Transport",
    "make_client",
]


class StaticBearer(httpx.Auth):
    """A fixed bearer token (local use and tests; services use ``ServiceTokenAuth``)."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def make_client(
    base_url: str = "",
    settings: HttpClientSettings | None = None,
    *,
    headers: dict[str, str] | None = None,
    auth: httpx.Auth | None = None,
    event_hooks: dict[str, list[object]] | None = None,
    tracing: Tracing | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with Strata's timeouts, pool limits and transport.

    ``tracing`` defaults to the process's; ``Tracing.disabled()`` sends no trace context.
    """
    s = settings or HttpClientSettings()
    timeout = httpx.Timeout(
        connect=s.connect_timeout, read=s.read_timeout, write=s.write_timeout, pool=s.pool_timeout
    )
    limits = httpx.Limits(
        max_connections=s.max_connections, max_keepalive_connections=s.max_keepalive
    )
    transport: httpx.AsyncBaseTransport
    traces = tracing or process_tracing()
    tracer = traces.tracer("strata.http") if traces.enabled else None
    if s.transport == "lean":
        transport = LeanTransport(limits, tracer=tracer)  # makes its client spans itself
    else:
        if s.transport == "aiohttp":
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=limits, trust_env=False)
        else:
            transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
        if tracer is not None:
            transport = TracedTransport(transport, tracer)
    return LeanAsyncClient(
        base_url=base_url,
        timeout=timeout,
        transport=transport,
        headers=headers,
        auth=auth,
        event_hooks=event_hooks,
        trust_env=False,
    )
