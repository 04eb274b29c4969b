"""The storefront experience API: availability and customer order status for Shopify apps."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi.spec import SecurityScheme, Tag

from experience_apis.storefront.clients import InventoryClient, OrdersClient
from experience_apis.storefront.routes import SHOPIFY_SESSION_SCHEME, StorefrontController
from experience_apis.storefront.settings import (
    PREFIX,
    StorefrontSettings,
    load_storefront_settings,
)
from experience_apis.storefront.shelf import Shelf
from shared.app import build_service_app, load_rate_limit_settings
from shared.auth import AuthSettings
from shared.auth.service_tokens import service_credentials
from shared.http import HttpClientSettings, make_client
from shared.ratelimit import RateLimitSettings

API_VERSION = "1.0.0"

SCOPES = {"storefront:read": "Read stock and order status as a storefront shows them"}


def service_auth(settings: StorefrontSettings) -> httpx.Auth | None:
    """Credentials for calls to the process APIs (scoped service tokens)."""
    return service_credentials(
        token_url=settings.token_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        service_token=settings.service_token,
        scopes=("inventory:read", "orders:read"),
    )


def http_settings(timeout: float) -> HttpClientSettings:
    """A process API client's timeouts: no phase of a call outlasts ``timeout``, the call's
    one deadline; connecting fails sooner, so that the retry still fits in it."""
    return HttpClientSettings.within(timeout, connect=min(2.0, timeout / 2))


def rate_limits(settings: StorefrontSettings) -> RateLimitSettings:
    """The rate limits (``STRATA_STOREFRONT_RATELIMIT_*``), on the service's Redis (its URL
    and whether it is a cluster) unless they name their own."""
    env = {f"{PREFIX}RATELIMIT_CLUSTER": str(settings.redis_cluster).lower(), **os.environ}
    return load_rate_limit_settings(PREFIX, "/storefront/", settings.redis_url, env)


def create_app(
    settings: StorefrontSettings | None = None,
    *,
    auth: AuthSettings | None = None,
    rate_limit: RateLimitSettings | None = None,
    inventory_client: httpx.AsyncClient | None = None,
    orders_client: httpx.AsyncClient | None = None,
) -> Litestar:
    """Build the storefront experience API from ``settings`` (read from the environment once,
    here, if not given); ``auth`` and ``rate_limit`` replace those settings (tests).

    ``inventory_client`` and ``orders_client`` replace the clients made from the settings;
    the caller then owns and closes them (the settings' timeouts still bound every call).
    """
    s = settings or load_storefront_settings()

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        authenticate = service_auth(s)
        owned: list[httpx.AsyncClient] = []
        inventory_http = inventory_client
        if inventory_http is None:
            inventory_http = make_client(
                s.inventory_api_url, http_settings(s.inventory_timeout), auth=authenticate
            )
            owned.append(inventory_http)
        orders_http = orders_client
        if orders_http is None:
            orders_http = make_client(
                s.orders_api_url, http_settings(s.orders_timeout), auth=authenticate
            )
            owned.append(orders_http)
        shelf = Shelf(
            InventoryClient(inventory_http, timeout=s.inventory_timeout),
            low_stock_threshold=s.low_stock_threshold,
            ttl=s.availability_cache_ttl,
        )
        app.state.shelf = shelf
        app.state.orders = OrdersClient(orders_http, timeout=s.orders_timeout)
        try:
            yield
        finally:
            await shelf.aclose()
            for client in owned:
                await client.aclose()

    def provide_orders() -> OrdersClient:
        orders: OrdersClient = app.state.orders
        return orders

    app = build_service_app(
        service="storefront",
        title="Strata storefront experience API",
        version=API_VERSION,
        description=(
            "What Shopify custom apps show customers: whether products can be bought now, "
            "and an order's status in plain words. Callers authenticate with a Shopify "
            "session token (the shop is the tenant) or an OAuth2 access token."
        ),
        route_handlers=[StorefrontController],
        lifespan=[resources],
        tags=[Tag(name="storefront", description="For Shopify custom apps")],
        security_schemes={
            SHOPIFY_SESSION_SCHEME: SecurityScheme(
                type="http",
                scheme="bearer",
                bearer_format="JWT",
                description="A Shopify session token (App Bridge id token, HS256 signed with "
                "the app's secret); its shop becomes the caller's tenant.",
            )
        },
        auth=auth or s.auth,
        scopes=SCOPES,
        rate_limit=rate_limit or rate_limits(s),
        # A provider without parameters: no per-request parsing of its own. The availability
        # route reads its shelf from the state (see there).
        dependencies={"orders": Provide(provide_orders, sync_to_thread=False)},
    )
    return app
