"""Settings of the orders process: one object, read once at start-up from ``STRATA_ORDERS_*``.

Nested parts are read under their own variables: ``context`` from ``STRATA_ORDERS_CONTEXT_*``,
``ratelimit`` from ``STRATA_ORDERS_RATELIMIT_*``, ``fulfillment`` from
``STRATA_ORDERS_FULFILLMENT_*``, and ``auth`` (shared by every service) from
``STRATA_AUTH_*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from process_apis.orders.context_settings import ContextSettings
from process_apis.orders.fulfillment.settings import FulfillmentSettings
from shared.auth import AuthSettings
from shared.ratelimit import Policy, RateLimitSettings
from shared.settings import load_settings, own_prefix
from shared.streams import DEFAULT_PREFIX, ORDERS, WebhookStreams

PREFIX = "STRATA_ORDERS_"
#: The API paths the default rate-limit policy covers.
API_PATHS = "/orders/"
#: Variables under the service's prefix that its clients read, not the service: the orders
#: CLI finds this API by ``STRATA_ORDERS_URL``, and a shell that sets it may start the service.
CLIENT_VARIABLES = frozenset({"STRATA_ORDERS_URL"})
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class RoutingRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Send an order to ``instance`` when every condition given here matches (first rule wins).

    ``countries`` is matched against the shipping (else billing) country, ``shops`` against
    the shop domain, ``sku_prefixes`` against every line's SKU, ``currencies`` against the
    order currency.
    """

    instance: str
    countries: list[str] = []
    shops: list[str] = []
    sku_prefixes: list[str] = []
    currencies: list[str] = []


def default_rate_limits(redis_url: str = DEFAULT_REDIS_URL) -> RateLimitSettings:
    """Every client gets 200 requests a second with bursts of 400 on the API paths, failing
    open to an in-process limiter while Redis is down: availability first, since the callers
    are Strata's own services and apps."""
    default = Policy(name="default", limit=200, period=1.0, burst=400, paths=(API_PATHS,))
    return RateLimitSettings(redis_url=redis_url, policies=(default,))


class OrdersSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the orders process reads from its environment (tests build it directly)."""

    redis_url: str = DEFAULT_REDIS_URL
    # The deployment's Redis is a Redis Cluster (the Helm chart says so to every service): the
    # process then talks to it through a cluster client, and its workers read each shard of
    # the orders stream on the node that holds it.
    redis_cluster: bool = False
    # ERP instance name -> base URL of its ERP system API.
    erp_instances: dict[str, str] = msgspec.field(
        default_factory=lambda: {"eu": "http://127.0.0.1:8101", "us": "http://127.0.0.1:8102"}
    )
    shopify_api_url: str = "http://127.0.0.1:8110"
    routes: list[RoutingRule] = msgspec.field(
        default_factory=lambda: [
            RoutingRule(instance="us", countries=["US", "CA", "MX"]),
            RoutingRule(instance="us", currencies=["USD"]),
        ]
    )
    default_instance: str = "eu"
    # Where the Shopify ingress appends order topics (the same prefix and shard count as
    # STRATA_SHOPIFY_STREAM_PREFIX and _SHARDS): workers read every shard; channel orders and
    # replays go to their shop's shard.
    stream_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9:_\-]+$")] = DEFAULT_PREFIX
    stream_shards: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 1
    consumer_group: str = "orders"
    run_workers: bool = True
    worker_concurrency: Annotated[int, msgspec.Meta(ge=1, le=512)] = 16
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8
    retry_base_delay: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    retry_max_delay: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    claim_idle: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    # Posts in flight per ERP instance: enough to keep the ERP busy, few enough not to drown it.
    erp_max_inflight: Annotated[int, msgspec.Meta(ge=1, le=256)] = 4
    # The whole of one ERP call (connection, request, answer, and the lookup a reused
    # idempotency key needs): past it the call counts as a transient failure and is retried.
    erp_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # Each call to the Shopify system API (reading an order, tagging it) gets this long.
    shopify_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    acknowledge_in_shopify: bool = True
    # Per shop (domain, or ``*`` for every shop): the ERP SKU of a non-stock product that
    # custom items (lines without a SKU) are sold as. A shop without one refuses such orders
    # with a mapping exception naming the line.
    custom_item_skus: dict[str, str] = {}
    # How this service authenticates to the system APIs: OAuth2 client credentials against
    # ``token_url``, or (local use and tests) a fixed ``service_token``.
    token_url: str | None = None
    client_id: str = "orders"
    client_secret: str | None = None
    service_token: str | None = None
    # The order context reader and the customer index (``STRATA_ORDERS_CONTEXT_*``).
    context: ContextSettings = msgspec.field(default_factory=ContextSettings)
    # ERP shipments to Shopify fulfillments (``STRATA_ORDERS_FULFILLMENT_*``).
    fulfillment: FulfillmentSettings = msgspec.field(default_factory=FulfillmentSettings)
    # Inbound rate limits (``STRATA_ORDERS_RATELIMIT_*``); see :func:`load_orders_settings`.
    ratelimit: RateLimitSettings = msgspec.field(default_factory=default_rate_limits)
    # How callers' tokens are checked, shared by every service (``STRATA_AUTH_*``).
    auth: Annotated[AuthSettings, own_prefix("STRATA_AUTH_")] = msgspec.field(
        default_factory=AuthSettings
    )

    def custom_item_sku(self, shop: str) -> str | None:
        """The SKU custom items of ``shop`` are sold as, if the shop (or ``*``) names one."""
        return self.custom_item_skus.get(shop) or self.custom_item_skus.get("*")

    @property
    def streams(self) -> WebhookStreams:
        """The webhook streams' names, as the Shopify ingress writes them."""
        return WebhookStreams(self.stream_prefix, self.stream_shards)

    @property
    def order_streams(self) -> list[str]:
        """Every shard of the orders family: what the workers read."""
        return self.streams.streams(ORDERS)


def load_orders_settings(environ: Mapping[str, str] | None = None) -> OrdersSettings:
    """Read :class:`OrdersSettings` once, at start-up; a ``STRATA_ORDERS_*`` variable that is
    no setting stops start-up (a misspelt variable would otherwise leave its default in force).

    The rate limiter uses the service's Redis unless ``STRATA_ORDERS_RATELIMIT_REDIS_URL``
    says otherwise, and the default policy of :func:`default_rate_limits` unless policies are
    configured.
    """
    import os

    env = {
        k: v
        for k, v in (os.environ if environ is None else environ).items()
        if k not in CLIENT_VARIABLES
    }
    ratelimit_redis = f"{PREFIX}RATELIMIT_REDIS_URL"
    if ratelimit_redis not in env:
        env[ratelimit_redis] = env.get(f"{PREFIX}REDIS_URL", DEFAULT_REDIS_URL)
    settings = load_settings(OrdersSettings, env, prefix=PREFIX, reject_unknown=True)
    if settings.ratelimit.policies:
        return settings
    defaults = default_rate_limits(settings.ratelimit.redis_url)
    return msgspec.structs.replace(
        settings, ratelimit=msgspec.structs.replace(settings.ratelimit, policies=defaults.policies)
    )
