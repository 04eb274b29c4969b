"""The catalog process: ERP products and prices published to every shop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.spec import Tag

from process_apis.catalog.clients import ErpProducts, ShopifyProducts
from process_apis.catalog.routes import CatalogController
from process_apis.catalog.service import CatalogService, PublisherBusy
from process_apis.catalog.settings import PREFIX, CatalogSettings, load_catalog_settings
from shared.app import build_service_app, load_rate_limit_settings
from shared.auth import AuthSettings
from shared.auth.service_tokens import service_credentials
from shared.http import HttpClientSettings, make_client
from shared.ratelimit import RateLimitSettings
from shared.sibling import SiblingError
from shared.telemetry.redis import service_redis

API_VERSION = "1.0.0"
SCOPES = {
    "catalog:read": "Read publication runs",
    "catalog:publish": "Start publication runs",
}


def service_auth(settings: CatalogSettings) -> httpx.Auth | None:
    """Credentials for calls to the ERP and Shopify system APIs."""
    return service_credentials(
        token_url=settings.token_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        service_token=settings.service_token,
        scopes=("erp:read", "shopify:read", "shopify:write"),
    )


def create_app(
    settings: CatalogSettings | None = None,
    *,
    auth: AuthSettings | None = None,
    rate_limit: RateLimitSettings | None = None,
    erp_clients: Mapping[str, httpx.AsyncClient] | None = None,
    shopify_client: httpx.AsyncClient | None = None,
) -> Litestar:
    """Build the catalog process API from ``settings`` (else ``STRATA_CATALOG_*``).

    ``erp_clients`` and ``shopify_client`` replace the clients made from the settings (the
    caller then closes them). With ``schedule_seconds`` set, a delta run starts on that
    schedule in this process (a run already going elsewhere is left to finish).
    """
    s = settings or load_catalog_settings()

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        redis = service_redis(
            s.redis_url, cluster=s.redis_cluster, socket_timeout=5, socket_connect_timeout=2
        )
        http = HttpClientSettings.within(s.timeout)
        authenticate = service_auth(s)
        owned: list[httpx.AsyncClient] = []
        erps = dict(erp_clients or {})
        if erp_clients is None:
            for name, url in s.erp_instances.items():
                erps[name] = make_client(url, http, auth=authenticate)
                owned.append(erps[name])
        shopify = shopify_client
        if shopify is None:
            shopify = make_client(s.shopify_url, http, auth=authenticate)
            owned.append(shopify)
        service = CatalogService(
            s,
            redis,
            {name: ErpProducts(name, client, s.page_size) for name, client in erps.items()},
            ShopifyProducts(shopify),
        )
        app.state.redis = redis
        app.state.catalog = service
        schedule = asyncio.create_task(_schedule(service, s.schedule_seconds))
        try:
            yield
        finally:
            schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await schedule
            await service.aclose()
            for client in owned:
                await client.aclose()
            await redis.aclose()

    async def redis_ready() -> None:
        await app.state.redis.ping()

    app = build_service_app(
        service="catalog",
        title="Strata catalog process API",
        version=API_VERSION,
        description=(
            "ERP products and prices published to every shop: delta by productSet merged with "
            "what Shopify holds, unchanged products skipped by a content hash, products no "
            "longer for sale archived, a full back-fill by Shopify bulk operation; the "
            "ERP-to-Shopify id mapping kept for the inventory sync."
        ),
        route_handlers=[CatalogController],
        readiness={"redis": redis_ready},
        lifespan=[resources],
        tags=[Tag(name="catalog", description="Catalog publication runs")],
        auth=auth or s.auth,
        scopes=SCOPES,
        rate_limit=rate_limit
        or load_rate_limit_settings(PREFIX, "/catalog/", s.redis_url, cluster=s.redis_cluster),
        dependencies={"catalog": Provide(_provide_catalog, sync_to_thread=False)},
    )
    return app


async def _schedule(service: CatalogService, every: int) -> None:
    if every <= 0:
        return
    while True:
        await asyncio.sleep(every)
        with contextlib.suppress(PublisherBusy, SiblingError):
            await service.publish()


def _provide_catalog(state: State) -> CatalogService:
    service: CatalogService = state.catalog
    return service
