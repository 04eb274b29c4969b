"""The one app-factory helper every Strata service builds on.

A service's own ``create_app(settings)`` lists its routes, lifespan and readiness checks and
hands them to :func:`build_service_app`, which adds what every service has in common: problem
details for every error, health probes, Prometheus metrics, a server span per request (W3C
trace context in and out) and its OpenAPI document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get
from litestar.config.app import AppConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Server, Tag
from litestar.types import ControllerRouterHandler, Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    ProcessCollector,
)
from prometheus_client.exposition import generate_latest

from shared.auth import AuthPlugin, AuthSettings
from shared.deprecation import DeprecationSettings, deprecation_middleware
from shared.health import ReadinessCheck, health_routes
from shared.openapi_structs import document_closed_structs
from shared.problems import EXCEPTION_HANDLERS
from shared.ratelimit import Policy, RateLimitPlugin, RateLimitSettings
from shared.settings import load_settings
from shared.strict_bodies import reject_lenient_bodies
from shared.telemetry.asgi import TracingPlugin
from shared.telemetry.business import SCRAPE_HOOKS
from shared.telemetry.metrics import HttpMetrics
from shared.telemetry.spans import Tracing, process_tracing

PROBE_PATHS = ("/health/", "/metrics", "/schema")


def build_service_app(
    *,
    service: str,
    title: str,
    version: str,
    description: str,
    route_handlers: Sequence[ControllerRouterHandler],
    readiness: Mapping[str, ReadinessCheck] | None = None,
    lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = (),
    middleware: Sequence[Middleware] = (),
    tags: Sequence[Tag] = (),
    security_schemes: Mapping[str, SecurityScheme] | None = None,
    state: Mapping[str, Any] | None = None,
    dependencies: Mapping[str, Any] | None = None,
    debug: bool = False,
    on_app_init: Sequence[Callable[[AppConfig], AppConfig]] = (),
    auth: AuthSettings | None = None,
    scopes: Mapping[str, str] | None = None,
    rate_limit: RateLimitSettings | None = None,
    tracing: Tracing | None = None,
    deprecations: DeprecationSettings | None = None,
) -> Litestar:
    """Assemble a Litestar app with Strata's common parts around the service's own routes.

    ``auth`` turns on bearer-token authentication (routes declare scopes with
    ``shared.auth.requires``); ``rate_limit`` turns on Redis rate limiting after it;
    ``tracing`` defaults to the process's (``STRATA_TELEMETRY_*``), ``Tracing.disabled()``
    turns it off.
    """
    registry = CollectorRegistry(auto_describe=True)
    # CPU, memory, open files and garbage collection: what operators expect on every target.
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    metrics = HttpMetrics(service, registry)
    traces = tracing or process_tracing(service)
    deprecated = _deprecation(deprecations)
    # Authentication and the rate limit run inside the telemetry layer (one layer a request,
    # not three) unless other middleware must sit between them.
    own_layers = bool(deprecated or middleware)
    plugins: list[Any] = []
    gates: list[Any] = []
    if auth is not None:
        auth_plugin = AuthPlugin(auth, scopes=scopes, middleware=own_layers)
        plugins.append(auth_plugin)
        gates += [] if own_layers else [auth_plugin.gate]
    if rate_limit is not None:
        limit_plugin = RateLimitPlugin(rate_limit, registry=registry, middleware=own_layers)
        plugins.append(limit_plugin)
        gates += [] if own_layers or limit_plugin.gate is None else [limit_plugin.gate]
    # Last, so its middleware goes in front of authentication's: the span covers the request.
    # The same layer records the HTTP metrics.
    plugins.append(TracingPlugin(traces, service, PROBE_PATHS, metrics=metrics, gates=gates))
    app = Litestar(
        route_handlers=[
            *route_handlers,
            *health_routes(service, readiness or {}),
            _metrics_route(registry),
        ],
        lifespan=list(lifespan),
        middleware=[*deprecated, *middleware],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=reject_lenient_bodies,
        dependencies=dict(dependencies or {}),
        openapi_config=OpenAPIConfig(
            title=title,
            version=version,
            description=description,
            servers=[Server(url="/")],
            tags=list(tags),
            components=Components(security_schemes=dict(security_schemes or {})),
            render_plugins=[ScalarRenderPlugin()],
            path="/schema",
            use_handler_docstrings=True,
            create_examples=False,
        ),
        # Litestar's default logging config turns httpx's per-request INFO logs on,
        # which costs about an eighth of throughput on proxying routes.
        logging_config=None,
        state=None,
        debug=debug,
        on_app_init=list(on_app_init),
        plugins=plugins,
    )
    document_closed_structs(app)
    app.state.metrics_registry = registry
    app.state[SCRAPE_HOOKS] = []
    app.state.service = service
    app.state.tracing = traces  # for ASGI paths in front of the router (the webhook fast path)
    for key, value in (state or {}).items():
        app.state[key] = value
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return app


def _metrics_route(registry: CollectorRegistry) -> Any:
    """``GET /metrics``: awaits the app's scrape hooks (figures read from Redis, see
    ``shared.telemetry.business``), then renders the registry in Prometheus text format."""

    @get("/metrics", include_in_schema=False)
    async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        for refresh in request.app.state.get(SCRAPE_HOOKS, ()):
            await refresh()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics


def load_auth_settings(environ: Mapping[str, str] | None = None) -> AuthSettings:
    """How every service checks its callers' tokens (``STRATA_AUTH_*``)."""
    return load_settings(AuthSettings, environ, prefix="STRATA_AUTH_")


def load_rate_limit_settings(
    service_prefix: str,
    api_prefix: str,
    redis_url: str,
    environ: Mapping[str, str] | None = None,
    *,
    cluster: bool = False,
) -> RateLimitSettings:
    """A service's rate limits (``<service_prefix>RATELIMIT_*``), with the service's defaults
    (:func:`service_rate_limits`); ``cluster`` says the service's Redis is a Redis Cluster."""
    import os

    env = dict(os.environ if environ is None else environ)
    prefix = f"{service_prefix}RATELIMIT_"
    env.setdefault(f"{prefix}REDIS_URL", redis_url)
    if cluster:
        env.setdefault(f"{prefix}CLUSTER", "true")
    loaded = load_settings(RateLimitSettings, env, prefix=prefix)
    return service_rate_limits(loaded, redis_url=redis_url, api_prefix=api_prefix)


#: The ``redis_url`` of a service's rate-limit part that stands for the service's own Redis:
#: the default of the part in a service's settings (a loader sets the service's Redis where
#: ``<PREFIX>RATELIMIT_REDIS_URL`` is unset).
SERVICE_REDIS = ""


def service_rate_limits(
    ratelimit: RateLimitSettings, *, redis_url: str, api_prefix: str
) -> RateLimitSettings:
    """A service's rate-limit part with the service's defaults filled in.

    A part whose ``redis_url`` is :data:`SERVICE_REDIS` uses the service's ``redis_url``.
    Unless policies are configured, every client gets 200 requests a second with bursts of
    400 on the service's API paths (``api_prefix``), and the limit fails open to an
    in-process limiter while Redis is down: availability first, since the callers are our
    own services and apps.
    """
    if ratelimit.redis_url == SERVICE_REDIS:
        ratelimit = msgspec.structs.replace(ratelimit, redis_url=redis_url)
    if ratelimit.policies:
        return ratelimit
    default = Policy(name="default", limit=200, period=1.0, burst=400, paths=(api_prefix,))
    return msgspec.structs.replace(ratelimit, policies=(default,))


def _deprecation(settings: DeprecationSettings | None) -> list[Middleware]:
    """``Deprecation``, ``Sunset`` and successor ``Link`` headers on deprecated versions.

    Configured per process with ``STRATA_DEPRECATIONS`` (a JSON list of
    ``{"prefix": "/erp/v1", "deprecated_at": ..., "sunset": ..., "successor": "/erp/v2"}``).
    """
    chosen = settings or load_settings(DeprecationSettings, prefix="STRATA_")
    return [deprecation_middleware(chosen)] if chosen.deprecations else []
