"""The service-desk experience API: a Zendesk sidebar app's view of a customer's orders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.spec import Tag

from experience_apis.service_desk.cache import AnswerCache
from experience_apis.service_desk.clients import OrdersApi
from experience_apis.service_desk.routes import ServiceDeskController
from experience_apis.service_desk.service import ServiceDesk
from experience_apis.service_desk.settings import (
    PREFIX,
    ServiceDeskSettings,
    load_service_desk_settings,
)
from shared.app import build_service_app, load_rate_limit_settings
from shared.auth import AuthSettings
from shared.auth.service_tokens import service_credentials
from shared.http import HttpClientSettings, make_client
from shared.ratelimit import RateLimitSettings
from shared.telemetry.redis import service_redis

API_VERSION = "1.0.0"
SCOPES = {"service-desk:read": "Read customers' orders and order contexts"}


def service_auth(settings: ServiceDeskSettings) -> httpx.Auth | None:
    """Credentials for calls to the orders process API (a scoped service token)."""
    return service_credentials(
        token_url=settings.token_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        service_token=settings.service_token,
        scopes=("orders:read",),
    )


def orders_http_settings(settings: ServiceDeskSettings) -> HttpClientSettings:
    """The orders API client's timeouts: no phase of a call outlasts ``orders_timeout``, the
    call's one deadline; connecting fails sooner, so that the retry still fits in it."""
    t = settings.orders_timeout
    return HttpClientSettings.within(t, connect=min(2.0, t / 2))


def create_app(
    settings: ServiceDeskSettings | None = None,
    *,
    auth: AuthSettings | None = None,
    rate_limit: RateLimitSettings | None = None,
    orders_transport: httpx.AsyncBaseTransport | None = None,
) -> Litestar:
    """Build the service-desk API from ``settings`` (read from the environment once, here, if
    not given); ``auth`` and ``rate_limit`` replace those settings and ``orders_transport``
    the network (tests)."""
    s = settings or load_service_desk_settings()

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        redis = service_redis(
            s.redis_url, cluster=s.redis_cluster, socket_timeout=2, socket_connect_timeout=2
        )
        if orders_transport is None:
            client = make_client(s.orders_api_url, orders_http_settings(s), auth=service_auth(s))
        else:
            client = httpx.AsyncClient(
                base_url=s.orders_api_url, transport=orders_transport, auth=service_auth(s)
            )
        orders = OrdersApi(client, timeout=s.orders_timeout)
        app.state.desk = ServiceDesk(orders, AnswerCache(redis, s.cache_prefix), s)
        app.state.redis = redis
        try:
            yield
        finally:
            await client.aclose()
            await redis.aclose()

    async def redis_ready() -> None:
        await app.state.redis.ping()

    app = build_service_app(
        service="service-desk",
        title="Strata service-desk experience API",
        version=API_VERSION,
        description=(
            "What a Zendesk sidebar app needs: a customer's orders and one order's whole "
            "context, limited to the shops of the caller's Zendesk account."
        ),
        route_handlers=[ServiceDeskController],
        readiness={"redis": redis_ready},
        lifespan=[resources],
        tags=[Tag(name="service-desk", description="Orders as an agent needs them")],
        auth=auth or s.auth,
        scopes=SCOPES,
        rate_limit=rate_limit
        or load_rate_limit_settings(PREFIX, "/service-desk/", s.redis_url, cluster=s.redis_cluster),
        dependencies={"desk": Provide(_provide_desk, sync_to_thread=False)},
    )
    return app


def _provide_desk(state: State) -> ServiceDesk:
    desk: ServiceDesk = state.desk
    return desk
