"""The Shopify system API: webhook ingress and the Admin GraphQL operations the process
layer needs (``strata serve shopify``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import OpenAPIType, Schema, Tag
from redis.asyncio import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shared.app import build_service_app
from shared.auth import AuthSettings
from shared.health import RedisDurability
from shared.http import HttpClientSettings, make_client
from shared.idempotency import IdempotencyStore
from shared.ratelimit import RateLimitSettings
from shared.retention import StreamTrimmer
from shared.settings import env_name
from shared.streams import FAMILIES, WebhookStreams
from shared.telemetry.redis import traced_redis
from system_apis.shopify import fulfillment_schemas, schemas
from system_apis.shopify.admin import AdminGraphQL
from system_apis.shopify.appender import RedisClient, StreamAppender
from system_apis.shopify.fast_path import WebhookFastPath
from system_apis.shopify.fulfillment_routes import FulfillmentController
from system_apis.shopify.ingress import ENTRY, WebhookIngress
from system_apis.shopify.metrics import IngressMetrics, RetentionMetrics
from system_apis.shopify.routes import ShopController
from system_apis.shopify.service import ShopifyService
from system_apis.shopify.settings import (
    PREFIX,
    ShopifySettings,
    load_shopify_settings,
    normalise,
)
from system_apis.shopify.webhook_routes import WEBHOOK_HMAC, WEBHOOK_HMAC_SCHEME, WebhookController

API_VERSION = "1.0.0"
SCOPES = {
    "shopify:read": "Read orders of the configured shops",
    "shopify:write": "Tag orders, set metafields, set stock, fulfil and refund",
}


def open_redis(settings: ShopifySettings) -> RedisClient:
    """The Redis client of the ingress: bounded timeouts, one retry on a dropped connection."""
    # One retry covers a pooled connection that died with a Redis restart; a replay of the
    # append script is harmless (the event is then reported as a duplicate).
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": settings.redis_timeout,
        "retry": Retry(NoBackoff(), 1),
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, **options)
    return traced_redis(settings.redis_url, **options)


def redis_durability(settings: ShopifySettings, redis: RedisClient) -> RedisDurability:
    """The readiness check that Redis keeps appended webhooks across a restart."""
    return RedisDurability(
        redis,
        accept_volatile=settings.redis_accept_volatile,
        accept_setting=env_name(PREFIX, "redis_accept_volatile"),
        at_risk="webhooks already answered 200, which Shopify will not send again",
    )


async def _stop(task: asyncio.Task[None], patience: float = 2.0) -> None:
    """Cancel ``task`` and wait for it a little: shutting down never hangs on background work
    (a client may swallow one cancellation while it reconnects, so cancel until it ends)."""
    deadline = asyncio.get_running_loop().time() + patience
    while not task.done() and asyncio.get_running_loop().time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved, so that it is not reported as never retrieved


def stream_trimmer(settings: ShopifySettings, redis: RedisClient) -> StreamTrimmer:
    """The retention of every shard of every webhook stream (their dead letters are kept)."""
    streams = WebhookStreams(settings.stream_prefix, settings.stream_shards)
    names = [name for family in FAMILIES for name in streams.streams(family)]
    return StreamTrimmer(redis, names, settings.stream_retention)


def admin_http_settings(settings: ShopifySettings) -> HttpClientSettings:
    """The Admin API client's timeouts: no phase of a request outlasts ``read_timeout``, which
    bounds the whole request (:class:`AdminGraphQL`); connecting gives up sooner, at
    ``connect_timeout``."""
    t = settings.read_timeout
    return HttpClientSettings(
        connect_timeout=min(settings.connect_timeout, t),
        read_timeout=t,
        write_timeout=t,
        pool_timeout=t,
    )


def create_app(
    settings: ShopifySettings | None = None,
    *,
    auth: AuthSettings | None = None,
    rate_limit: RateLimitSettings | None = None,
) -> Litestar:
    """Build the Shopify system API from ``settings`` (else ``STRATA_SHOPIFY_*``); ``auth``
    and ``rate_limit`` replace those parts of the settings (tests).

    The webhook route authenticates Shopify by HMAC, not by bearer token, and is not rate
    limited (Shopify must never be refused for volume); the shop routes need a token with
    ``shopify:read`` or ``shopify:write`` and are rate limited per client. Deliveries are
    served by :class:`WebhookFastPath` in front of the router, which skips those layers.
    """
    s = normalise(settings) if settings is not None else load_shopify_settings()
    fast_path = WebhookFastPath()

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        redis = open_redis(s)
        appender = StreamAppender(
            redis,
            ENTRY,
            ttl=s.dedupe_ttl,
            maxlen=s.stream_maxlen,
            max_batch=s.append_batch_max,
            max_in_flight=s.append_in_flight_max,
        )
        http = make_client(settings=admin_http_settings(s))
        admin = AdminGraphQL(s, http, redis)
        app.state.redis = redis
        app.state.appender = appender
        app.state.ingress = WebhookIngress(s, appender, IngressMetrics(app.state.metrics_registry))
        fast_path.ingress = app.state.ingress
        app.state.admin = admin
        app.state.shopify = ShopifyService(admin)
        # The idempotency store speaks to one Redis; under Redis Cluster its keys are
        # hash-tagged per key, and the cluster client routes them the same way.
        app.state.idempotency = IdempotencyStore(redis, "strata:shopify")
        app.state.durability = redis_durability(s, redis)
        trimming: asyncio.Task[None] | None = None
        if s.stream_trim_interval > 0:
            retention = RetentionMetrics(app.state.metrics_registry)
            trimmer = stream_trimmer(s, redis)
            trimming = asyncio.create_task(
                trimmer.run(s.stream_trim_interval, retention.trimmed, retention.failed)
            )
        try:
            yield
        finally:
            if trimming is not None:
                await _stop(trimming)
            fast_path.ingress = None
            await appender.aclose()
            await http.aclose()
            await redis.aclose()

    async def redis_ready() -> None:
        await app.state.redis.ping()

    async def redis_durable() -> str:
        durability: RedisDurability = app.state.durability
        return await durability()

    app = build_service_app(
        service="shopify",
        title="Strata Shopify system API",
        version=API_VERSION,
        description=(
            "Shopify webhook ingress into Redis Streams, and the Admin GraphQL operations the "
            f"process layer needs (Admin API version {s.api_version})."
        ),
        route_handlers=[WebhookController, ShopController, FulfillmentController],
        readiness={"redis": redis_ready, "redis_durability": redis_durable},
        lifespan=[resources],
        tags=[
            Tag(name="webhooks", description="Deliveries from Shopify"),
            Tag(name="shopify", description="Admin API operations on one shop"),
        ],
        state={"settings": s},
        security_schemes={WEBHOOK_HMAC_SCHEME: WEBHOOK_HMAC},
        auth=auth or s.auth,
        scopes=SCOPES,
        rate_limit=rate_limit or s.ratelimit,
    )
    _document_item_limits(app)
    fast_path.mount(app)
    return app


def _document_item_limits(app: Litestar) -> None:
    """Put the limits of list items that msgspec enforces into the OpenAPI document.

    Litestar's schema keeps a list's own limits but drops its items' (each of
    ``TagsAdd.tags`` is 1 to 255 characters), so clients would be told that values the
    service refuses with 400 are fine.
    """
    structs = [
        value
        for module in (schemas, fulfillment_schemas)
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value.__module__ == module.__name__
    ]
    _, enforced = msgspec.json.schema_components(structs)
    components = app.openapi_schema.components.schemas if app.openapi_schema.components else {}
    for name, schema in enforced.items():
        documented = components.get(name)
        properties = documented.properties if documented is not None else None
        for field, spec in schema.get("properties", {}).items():
            target = (properties or {}).get(field)
            pairs = [(_array_items(spec), _documented_items(target))]
            if name in _DOCUMENTED_SINCE_RELEASE:
                # An optional scalar (``float | None``) loses its limits to the ``oneOf`` too.
                pairs.append((_value_schema(spec), _documented_value(target)))
            for enforced_part, documented_part in pairs:
                if enforced_part is None or documented_part is None:
                    continue
                for key, attribute in _ITEM_LIMITS:
                    if key in enforced_part and getattr(documented_part, attribute) is None:
                        setattr(documented_part, attribute, enforced_part[key])


# Request bodies added after v1 was released, whose optional scalars are documented with
# their limits; on released ones the breaking-change check counts the same fix as a tightening
# (they were enforced all along), so they stay as released until the next major.
_DOCUMENTED_SINCE_RELEASE = frozenset(
    {"ProductOptionSet", "VariantOptionSet", "ProductVariantSet", "ProductSet", "BulkProductSet"}
    | {"ProductStatusChange", "TrackingInput", "TrackingUpdate", "FulfillmentSend"}
    | {"FulfillmentLineInput", "FulfillmentOrderInput"}
)


def _value_schema(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The non-null member of an optional property's ``anyOf``."""
    for candidate in spec.get("anyOf", ()):
        if isinstance(candidate, dict) and candidate.get("type") not in (None, "null", "array"):
            return candidate
    return None


def _documented_value(target: Any) -> Schema | None:
    """The documented non-null, non-list member of an optional property's ``oneOf``."""
    if not isinstance(target, Schema):
        return None
    for candidate in target.one_of or ():
        if isinstance(candidate, Schema) and candidate.type not in (
            None,
            OpenAPIType.NULL,
            OpenAPIType.ARRAY,
        ):
            return candidate
    return None


def _array_items(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The item schema of a list property, optional lists (``anyOf`` with null) included."""
    for candidate in (spec, *spec.get("anyOf", ())):
        if isinstance(candidate, dict) and isinstance(candidate.get("items"), dict):
            items: dict[str, Any] = candidate["items"]
            return items
    return None


def _documented_items(target: Any) -> Schema | None:
    """The documented item schema of a list property, optional lists (``oneOf``) included."""
    if not isinstance(target, Schema):
        return None
    for candidate in (target, *(target.one_of or ())):
        if isinstance(candidate, Schema) and isinstance(candidate.items, Schema):
            return candidate.items
    return None


_ITEM_LIMITS = (
    ("minLength", "min_length"),
    ("maxLength", "max_length"),
    ("pattern", "pattern"),
    ("minimum", "minimum"),
    ("maximum", "maximum"),
)
