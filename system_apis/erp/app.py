"""The ERP system API: one deployment per ERP instance (``strata serve erp --instance eu``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.spec import Tag
from redis.asyncio import Redis, RedisCluster

from shared.app import build_service_app
from shared.auth import AuthSettings
from shared.deprecation import DeprecationSettings
from shared.http import HttpClientSettings, make_client
from shared.idempotency import IdempotencyStore
from shared.ratelimit import RateLimitSettings
from shared.telemetry.redis import traced_redis
from system_apis.erp.metrics import backend_requests_counted
from system_apis.erp.port import ErpPort
from system_apis.erp.routes import ErpController
from system_apis.erp.service import ErpService
from system_apis.erp.settings import ErpSettings, load_erp_settings

API_VERSION = "1.0.0"


def erp_http_settings(settings: ErpSettings) -> HttpClientSettings:
    """The ERP client's timeouts: no phase of a call outlasts ``read_timeout``, which bounds
    the whole call (the adapter's deadline); connecting gives up sooner, at
    ``connect_timeout``."""
    t = settings.read_timeout
    return HttpClientSettings(
        connect_timeout=min(settings.connect_timeout, t),
        read_timeout=t,
        write_timeout=t,
        pool_timeout=t,
    )


def build_port(settings: ErpSettings) -> ErpPort:
    """The adapter for the configured ERP product."""
    from system_apis.erp.adapters.tryton import TrytonAdapter

    client = make_client(settings.tryton_url, erp_http_settings(settings))
    adapter: ErpPort = TrytonAdapter(client, settings.tryton())
    return adapter


SCOPES = {
    "erp:read": "Read products, stock, customers and sales orders",
    "erp:write": "Create and cancel sales orders",
}


def create_app(
    settings: ErpSettings | None = None,
    port: ErpPort | None = None,
    *,
    auth: AuthSettings | None = None,
    rate_limit: RateLimitSettings | None = None,
    deprecations: DeprecationSettings | None = None,
) -> Litestar:
    """Build the ERP system API from ``settings`` (read from ``STRATA_ERP_*`` if not given).

    ``port`` replaces the configured adapter (unit tests); ``auth`` and ``rate_limit``
    replace those parts of the settings (tests).
    """
    s = settings or load_erp_settings()

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        redis: Redis | RedisCluster = (
            RedisCluster.from_url(s.redis_url, socket_timeout=2, socket_connect_timeout=2)
            if s.redis_cluster
            else traced_redis(s.redis_url, socket_timeout=2, socket_connect_timeout=2)
        )
        erp_port = port or build_port(s)
        store = IdempotencyStore(redis, f"strata:erp:{s.instance}")
        app.state.redis = redis
        app.state.erp = ErpService(erp_port, store, s.instance)
        app.state.idempotency = store
        try:
            with backend_requests_counted(app.state.metrics_registry, erp_port):
                yield
        finally:
            await erp_port.aclose()
            await redis.aclose()

    async def erp_ready() -> None:
        await app.state.erp.port.ping()

    async def redis_ready() -> None:
        await app.state.redis.ping()

    app = build_service_app(
        service=f"erp-{s.instance}",
        title="Strata ERP system API",
        version=API_VERSION,
        description=(
            "Products, prices, stock, customers and sales orders of one ERP instance, behind "
            "a stable contract that hides the ERP product."
        ),
        route_handlers=[ErpController],
        readiness={"erp": erp_ready, "redis": redis_ready},
        lifespan=[resources],
        tags=[Tag(name="erp", description="One ERP instance")],
        auth=auth or s.auth,
        scopes=SCOPES,
        rate_limit=rate_limit or s.ratelimit,
        deprecations=deprecations,
        dependencies={
            "erp": Provide(_provide_erp, sync_to_thread=False),
            "idempotency": Provide(_provide_idempotency, sync_to_thread=False),
        },
    )
    return app


def _provide_erp(state: State) -> ErpService:
    service: ErpService = state.erp
    return service


def _provide_idempotency(state: State) -> IdempotencyStore:
    store: IdempotencyStore = state.idempotency
    return store
