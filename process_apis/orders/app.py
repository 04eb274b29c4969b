"""The orders process: API and (optionally in the same process) its stream workers.

The one wiring point: :func:`orders_runtime` builds Redis, the system-API clients, the
stores and the service from one :class:`~process_apis.orders.settings.OrdersSettings`, read
once at start-up; :func:`create_app` and :func:`run_worker` both run on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.spec import Tag
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.asyncio import RedisCluster
from redis.asyncio.client import Pipeline

from process_apis.orders.acknowledgements import RedisAcknowledgements
from process_apis.orders.context_reader import OrderContextReader
from process_apis.orders.context_routes import OrderContextController, context_dependencies
from process_apis.orders.customer_index import CustomerOrders, RedisCustomerIndex
from process_apis.orders.downstream import ErpClient, ShopifyClient
from process_apis.orders.exceptions import ExceptionStore
from process_apis.orders.fulfillment.metrics import lag_histogram
from process_apis.orders.fulfillment.runtime import FulfillmentParts, Workers, fulfillment_parts
from process_apis.orders.locks import RedisOrderLocks
from process_apis.orders.metrics import orders_metrics
from process_apis.orders.order_stream import RedisOrderStream
from process_apis.orders.pipeline import PipelineStore
from process_apis.orders.routes import OrdersController
from process_apis.orders.service import OrdersService
from process_apis.orders.settings import OrdersSettings, load_orders_settings
from shared.app import build_service_app
from shared.auth import AuthSettings
from shared.auth.service_tokens import service_credentials
from shared.events import RedisClient, StreamWorker, stream_keys
from shared.http import HttpClientSettings, make_client
from shared.idempotency import IdempotencyStore
from shared.ratelimit import RateLimitSettings
from shared.streams import SHIPMENTS_STREAM
from shared.telemetry.redis import traced_redis

API_VERSION = "1.0.0"
# How long an order's lock outlasts its ERP call: the Shopify acknowledgement after it.
ACKNOWLEDGEMENT_MARGIN = 15.0


@dataclass(frozen=True, slots=True)
class OrdersRuntime:
    """What one orders process runs on: its settings, Redis, the service and its readers."""

    settings: OrdersSettings
    redis: RedisClient
    service: OrdersService
    order_context: OrderContextReader
    customer_orders: CustomerOrders
    fulfillment: FulfillmentParts


def erp_http_settings(settings: OrdersSettings) -> HttpClientSettings:
    """The ERP clients' timeouts: no phase of a call outlasts ``erp_timeout``, which bounds
    the whole call (see ``OrdersService``); connecting fails faster, to retry sooner."""
    return HttpClientSettings.within(settings.erp_timeout)


def shopify_http_settings(settings: OrdersSettings) -> HttpClientSettings:
    """The Shopify system API client's timeouts (each call's phases, ``shopify_timeout``)."""
    return HttpClientSettings.within(settings.shopify_timeout)


def open_redis(settings: OrdersSettings) -> RedisClient:
    """The process's Redis client: one node's (traced), or a Redis Cluster's with
    ``redis_cluster``, which routes each key to the node holding its slot."""
    options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 2}
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    return traced_redis(settings.redis_url, **options)


@contextlib.asynccontextmanager
async def orders_runtime(settings: OrdersSettings) -> AsyncIterator[OrdersRuntime]:
    """Redis, the system-API clients, the stores and the service; closed on exit."""
    redis = open_redis(settings)
    auth = service_auth(settings)
    erp_http = {
        name: make_client(url, erp_http_settings(settings), auth=auth)
        for name, url in settings.erp_instances.items()
    }
    shopify_http = make_client(settings.shopify_api_url, shopify_http_settings(settings), auth=auth)
    pipeline = PipelineStore(redis)
    exceptions = ExceptionStore(redis)
    fulfillment = fulfillment_parts(
        redis,
        settings.fulfillment,
        erp_http=erp_http,
        shopify_http=shopify_http,
        pipeline=pipeline,
        exceptions=exceptions,
    )
    service = OrdersService(
        settings,
        pipeline=pipeline,
        exceptions=exceptions,
        locks=RedisOrderLocks(redis, ttl=settings.erp_timeout + ACKNOWLEDGEMENT_MARGIN),
        acknowledgements=RedisAcknowledgements(redis),
        customers=RedisCustomerIndex(redis, settings.context),
        stream=RedisOrderStream(redis, settings.streams),
        erps={name: ErpClient(name, client) for name, client in erp_http.items()},
        shopify=ShopifyClient(shopify_http),
        fulfillments=fulfillment.records,
    )
    runtime = OrdersRuntime(
        settings=settings,
        redis=redis,
        service=service,
        fulfillment=fulfillment,
        # The context reader shares the pipeline's clients, so connections are pooled once.
        order_context=OrderContextReader(
            pipeline, exceptions, erp_http, shopify_http, settings.context
        ),
        customer_orders=CustomerOrders(redis, pipeline, exceptions),
    )
    try:
        yield runtime
    finally:
        for client in erp_http.values():
            await client.aclose()
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


def make_workers(runtime: OrdersRuntime, consumer: str | None = None) -> Workers:
    """The orders stream worker and, unless disabled, the shipment follower and the
    shipments stream worker (ERP shipments to Shopify fulfillments)."""
    enabled = runtime.settings.fulfillment.enabled
    return Workers(make_worker(runtime, consumer), runtime.fulfillment if enabled else None)


def make_worker(runtime: OrdersRuntime, consumer: str | None = None) -> StreamWorker:
    """A stream worker that hands the orders stream's entries to the service."""
    s = runtime.settings
    return StreamWorker(
        runtime.redis,
        s.order_streams,
        s.consumer_group,
        runtime.service.handle,
        consumer=consumer,
        concurrency=s.worker_concurrency,
        batch=s.worker_concurrency,
        claim_idle=s.claim_idle,
        max_attempts=s.max_attempts,
        base_delay=s.retry_base_delay,
        max_delay=s.retry_max_delay,
        on_dead_letter=runtime.service.on_dead_letter,
    )


async def run_worker(
    settings: OrdersSettings | None = None, *, host: str = "127.0.0.1", port: int | None = None
) -> None:
    """``strata worker orders``: consume until SIGTERM/SIGINT, then finish in-flight entries.

    With ``port`` the process also serves ``/health/live``, ``/health/ready`` (Redis answers
    and the worker runs) and ``/metrics`` (the orders gauges, stream lag, the process's own)
    from a small app in the same event loop, so probes and scrapes see the worker itself. A
    signal then turns readiness false, stops the worker (in-flight entries finish or are
    handed back), and closes the listener; a worker that dies ends the process.
    """
    import signal

    s = settings or load_orders_settings()
    if port is None:
        async with orders_runtime(s) as runtime:
            worker = make_workers(runtime)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, worker.stop)
            await worker.run()
        return

    import logging

    import uvicorn

    from shared.server import DrainingServer, load_shutdown_settings
    from shared.telemetry.business import business_metrics

    log = logging.getLogger("strata.orders.worker")
    servers: list[uvicorn.Server] = []
    failed: list[BaseException] = []

    @contextlib.asynccontextmanager
    async def consuming(app: Litestar) -> AsyncIterator[None]:
        async with orders_runtime(s) as runtime:
            runtime.fulfillment.lag.append(lag_histogram(app.state.metrics_registry))
            worker = make_workers(runtime)
            task = asyncio.create_task(worker.run())
            stopping = asyncio.Event()

            def ended(done: asyncio.Task[None]) -> None:
                if done.cancelled() or stopping.is_set():
                    return
                failed.append(done.exception() or RuntimeError("the worker stopped"))
                log.error("orders worker ended unexpectedly", exc_info=failed[-1])
                for server in servers:
                    server.should_exit = True

            task.add_done_callback(ended)
            app.state.redis = runtime.redis
            app.state.worker_task = task
            try:
                yield
            finally:
                stopping.set()
                worker.stop()
                if not task.done():  # a worker that died was reported by ``ended``
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait_for(task, timeout=30)

    async def redis_ready() -> None:
        await app.state.redis.ping()

    async def worker_running() -> None:
        if app.state.worker_task.done():
            raise OSError("the worker is not running")

    app = build_service_app(
        service="orders-worker",
        title="Strata orders worker",
        version=API_VERSION,
        description="The orders stream consumers' probes and metrics.",
        route_handlers=[],
        readiness={"redis": redis_ready, "worker": worker_running},
        lifespan=[
            consuming,
            orders_metrics(
                s.redis_url,
                dead_letter_streams=[*s.order_streams, SHIPMENTS_STREAM],
                cluster=s.redis_cluster,
            ),
            # Its own collector: a lag reading that fails must not blank the gauges above.
            business_metrics(
                s.redis_url,
                [_ConsumerLag(s.order_streams, s.consumer_group)],
                cluster=s.redis_cluster,
            ),
        ],
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        log_config=None,  # the CLI configured logging for the whole process
        timeout_graceful_shutdown=30,
    )
    server = DrainingServer(config, app, load_shutdown_settings().drain_seconds)
    servers.append(server)
    await server.serve()
    if failed:
        raise RuntimeError("the orders worker ended unexpectedly") from failed[0]


class _ConsumerLag:
    """``strata_stream_consumer_lag{stream,group}``: entries of each stream not yet delivered
    to the consumer group (``XINFO GROUPS``'s ``lag``, Redis 7; absent while Redis cannot
    tell), what a KEDA ScaledObject and the lag alert watch."""

    def __init__(self, streams: Sequence[str], group: str) -> None:
        self.keys = {name: stream_keys(name).stream for name in streams}
        self.group = group

    def queue(self, pipe: Pipeline) -> int:
        """One ``XINFO GROUPS`` per stream."""
        for key in self.keys.values():
            pipe.xinfo_groups(key)
        return len(self.keys)

    def families(self, replies: Sequence[Any], taken_at: float) -> Iterator[Metric]:
        """One gauge family, one sample per stream whose lag Redis knows."""
        lag = GaugeMetricFamily(
            "strata_stream_consumer_lag",
            "Entries of a stream not yet delivered to its consumer group",
            labels=["stream", "group"],
        )
        for name, groups in zip(self.keys, replies, strict=True):
            for group in groups:
                group_name = group.get("name")
                if isinstance(group_name, bytes):
                    group_name = group_name.decode()
                if group_name == self.group and group.get("lag") is not None:
                    lag.add_metric([name, self.group], int(group["lag"]))
        yield lag


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
    """Build the orders process API from ``settings`` (read from the environment if not
    given); ``auth`` and ``rate_limit`` replace those parts of the settings (tests)."""
    s = settings or load_orders_settings()

    @contextlib.asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        async with orders_runtime(s) as runtime:
            app.state.orders = runtime.service
            app.state.order_context = runtime.order_context
            app.state.customer_orders = runtime.customer_orders
            app.state.redis = runtime.redis
            app.state.idempotency = IdempotencyStore(runtime.redis, "strata:orders")
            app.state.fulfillment_records = runtime.fulfillment.records
            runtime.fulfillment.lag.append(lag_histogram(app.state.metrics_registry))
            worker = make_workers(runtime) if s.run_workers else None
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
        await app.state.redis.ping()

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
        lifespan=[
            resources,
            orders_metrics(
                s.redis_url,
                dead_letter_streams=[*s.order_streams, SHIPMENTS_STREAM],
                cluster=s.redis_cluster,
            ),
        ],
        tags=[Tag(name="orders", description="The order pipeline")],
        auth=auth or s.auth,
        scopes=SCOPES,
        rate_limit=rate_limit or s.ratelimit,
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
