"""The inventory process: available-to-sell across ERP instances, and reservations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.spec import Tag

from process_apis.inventory.clients import ErpStock
from process_apis.inventory.reservations import ReservationStore
from process_apis.inventory.routes import InventoryController
from process_apis.inventory.service import InventoryService
from process_apis.inventory.settings import PREFIX, InventorySettings, load_inventory_settings
from process_apis.inventory.stock import StockBoard
from shared.app import build_service_app, load_rate_limit_settings
from shared.auth import AuthSettings
from shared.auth.service_tokens import service_credentials
from shared.http import HttpClientSettings, make_client
from shared.idempotency import IdempotencyStore
from shared.ratelimit import RateLimitSettings
from shared.telemetry.redis import service_redis

API_VERSION = "1.0.0"

SCOPES = {
    "inventory:read": "Read available-to-sell and reservations",
    "inventory:reserve": "Hold and release stock",
}


def service_auth(settings: InventorySettings) -> httpx.Auth | None:
    """Credentials for calls to the ERP system APIs (scoped service tokens)."""
    return service_credentials(
        token_url=settings.token_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        service_token=settings.service_token,
        scopes=("erp:read",),
    )


def erp_http_settings(settings: InventorySettings) -> HttpClientSettings:
    """The ERP clients' timeouts: no phase of a stock read outlasts ``erp_timeout``, which
    bounds the whole read (the stock board's deadline); connecting fails sooner, so a down
    instance is told apart from a slow one."""
    return HttpClientSettings.within(settings.erp_timeout)


def create_app(
    settings: InventorySettings | None = None,
    *,
    auth: AuthSettings | None = None,
    rate_limit: RateLimitSettings | None = None,
    erp_clients: Mapping[str, httpx.AsyncClient] | None = None,
) -> Litestar:
    """Build the inventory process API from ``settings`` (read from the environment once, here,
    if not given); ``auth`` and ``rate_limit`` replace those settings (tests).

    ``erp_clients`` (instance name -> client) replaces the clients made from
    ``settings.erp_instances``; the caller then owns and closes them (the stock board's
    ``erp_timeout`` still bounds every read).
    """
    s = settings or load_inventory_settings()

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        # Reservations keep each script's keys under one hash tag, so they run on a cluster too.
        redis = service_redis(
            s.redis_url, cluster=s.redis_cluster, socket_timeout=2, socket_connect_timeout=2
        )
        owned: dict[str, httpx.AsyncClient] = {}
        if erp_clients is None:
            http = erp_http_settings(s)
            authenticate = service_auth(s)
            owned = {
                name: make_client(url, http, auth=authenticate)
                for name, url in s.erp_instances.items()
            }
        clients = dict(erp_clients) if erp_clients is not None else owned
        board = StockBoard(
            [ErpStock(name, client) for name, client in clients.items()],
            timeout=s.erp_timeout,
            ttl=s.stock_cache_ttl,
            failure_ttl=s.failure_cache_ttl,
        )
        app.state.redis = redis
        app.state.inventory = InventoryService(s, board, ReservationStore(redis, s.key_prefix))
        app.state.idempotency = IdempotencyStore(redis, s.key_prefix)
        try:
            yield
        finally:
            await board.aclose()
            for client in owned.values():
                await client.aclose()
            await redis.aclose()

    async def redis_ready() -> None:
        await app.state.redis.ping()

    app = build_service_app(
        service="inventory",
        title="Strata inventory process API",
        version=API_VERSION,
        description=(
            "Available-to-sell across every ERP instance and warehouse, less reservations; "
            "reservations held atomically so that they never oversell."
        ),
        route_handlers=[InventoryController],
        readiness={"redis": redis_ready},
        lifespan=[resources],
        tags=[Tag(name="inventory", description="Available-to-sell and reservations")],
        auth=auth or s.auth,
        scopes=SCOPES,
        rate_limit=rate_limit
        or load_rate_limit_settings(PREFIX, "/inventory/", s.redis_url, cluster=s.redis_cluster),
        dependencies={
            "inventory": Provide(_provide_inventory, sync_to_thread=False),
            "idempotency": Provide(_provide_idempotency, sync_to_thread=False),
        },
    )
    return app


def _provide_inventory(state: State) -> InventoryService:
    service: InventoryService = state.inventory
    return service


def _provide_idempotency(state: State) -> IdempotencyStore:
    store: IdempotencyStore = state.idempotency
    return store
