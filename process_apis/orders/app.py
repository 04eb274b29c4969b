"""The orders process: API and (optionally in the same process) its stream workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.spec import Tag

from process_apis.orders.context_routes import OrderContextController, context_dependencies
from process_apis.orders.downstream import ErpClient, ShopifyClient
from process_apis.orders.routes import OrdersController
from process_apis.orders.service import OrdersService
from process_apis.orders.settings import PREFIX, OrdersSettings, load_orders_settings
from shared.app import build_service_app, load_auth_settings, load_rate_limit_settings
from shared.auth import AuthSettings
from shared.auth.service_tokens import service_credentials
from shared.events import StreamWorker
from shared.http import HttpClientSettings, make_client
from shared.idempotency import IdempotencyStore
from shared.ratelimit import RateLimitSettings
from shared.telemetry.business import business_metrics
from shared.telemetry.redis import traced_redis

API_VERSION = "1.0.0"


@contextlib.asynccontextmanager
async def orders_runtime(settings: OrdersSettings) -> AsyncIterator[OrdersService]:
    """Redis, the downstream clients and the service; closed on exit."""
    redis = traced_redis(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    http = HttpClientSettings(read_timeout=settings.erp_timeout)
    auth = service_auth(settings)
    erp_clients = {
        name: ErpClient(name, make_client(url, http, auth=auth))
        for name, url in settings.erp_instances.items()
    }
    shopify_http = make_client(settings.shopify_api_url, http, auth=auth)
    service = OrdersService(settings, redis, erp_clients, ShopifyClient(shopify_http))
    try:
        yield service
    finally:
        for erp in erp_clients.values():
            await erp.client.aclose()
        await shopify_http.aclose()
        await redis.aclose()


def service_auth(settings: OrdersSettings) -> httpx.Auth | None:
    """Credentials for calls to the system APIs (scoped service tokens)."""
    return service_credentials(
        token_url=settings.token_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        service_token=settings.service_token,
        scopes=("erp:read", "erp:write", "shopify:read", "shopify:write"),
    )


def make_worker(service: OrdersService, consumer: str | None = None) -> StreamWorker:
    s = service.settings
    return StreamWorker(
        service.redis,
        s.webhook_stream,
        s.consumer_group,
        service.handle,
        consumer=consumer,
        concurrency=s.worker_concurrency,
        batch=s.worker_concurrency,
        claim_idle=s.claim_idle,
        max_attempts=s.max_attempts,
        base_delay=s.retry_base_delay,
        max_delay=s.retry_max_delay,
        on_dead_letter=service.on_dead_letter,
    )


async def run_worker(settings: OrdersSettings | None = None) -> None:
    """``strata worker orders``: consume until SIGTERM/SIGINT, then finish in-flight entries."""
    import signal

    s = settings or load_orders_settings()
    async with orders_runtime(s) as service:
        worker = make_worker(service)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()


SCOPES = {
    "orders:read": "Read pipeline status and exceptions",
    "orders:write": "Submit orders from other channels",
    "orders:replay": "Replay exceptions",
}


def create_app(
    settings: OrdersSettings | None = None,
    *,
    auth: AuthSettings | None = None,
    rate_limit: RateLimitSettings | None = None,
) -> Litestar:
    s = settings or load_orders_settings()

    @contextlib.asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        async with orders_runtime(s) as service:
            app.state.orders = service
            app.state.idempotency = IdempotencyStore(service.redis, "strata:orders")
            worker = make_worker(service) if s.run_workers else None
            task = asyncio.create_task(worker.run()) if worker else None
            app.state.worker = worker
            try:
                yield
            finally:
                if worker is not None and task is not None:
                    worker.stop()
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait_for(task, timeout=30)

    async def redis_ready() -> None:
        await app.state.orders.redis.ping()

    app = build_service_app(
        service="orders",
        title="Strata orders process API",
        version=API_VERSION,
        description=(
            "Shopify and channel orders posted exactly once to the right regional ERP: "
            "pipeline status, exceptions and replay."
        ),
        route_handlers=[OrdersController, OrderContextController],
        readiness={"redis": redis_ready},
        lifespan=[resources, business_metrics(s.redis_url, dead_letter_streams=[s.webhook_stream])],
        tags=[Tag(name="orders", description="The order pipeline")],
        auth=auth or load_auth_settings(),
        scopes=SCOPES,
        rate_limit=rate_limit or load_rate_limit_settings(PREFIX, "/orders/", s.redis_url),
        dependencies={
            "orders": Provide(_provide_orders, sync_to_thread=False),
            "idempotency": Provide(_provide_idempotency, sync_to_thread=False),
            **context_dependencies(),
        },
    )
    return app


def _provide_orders(state: State) -> OrdersService:
    service: OrdersService = state.orders
    return service


def _provide_idempotency(state: State) -> IdempotencyStore:
    store: IdempotencyStore = state.idempotency
    return store
