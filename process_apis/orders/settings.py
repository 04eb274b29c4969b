"""Settings of the orders process, from ``STRATA_ORDERS_*``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from shared.settings import load_settings

PREFIX = "STRATA_ORDERS_"


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


class OrdersSettings(msgspec.Struct, frozen=True, kw_only=True):
    redis_url: str = "redis://127.0.0.1:6379/0"
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
    # The Shopify ingress appends order topics here; channel orders and replays go here too.
    webhook_stream: str = "strata:webhooks:{orders}"
    consumer_group: str = "orders"
    run_workers: bool = True
    worker_concurrency: Annotated[int, msgspec.Meta(ge=1, le=512)] = 16
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8
    retry_base_delay: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    retry_max_delay: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    claim_idle: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    # Posts in flight per ERP instance: enough to keep the ERP busy, few enough not to drown it.
    erp_max_inflight: Annotated[int, msgspec.Meta(ge=1, le=256)] = 4
    erp_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    acknowledge_in_shopify: bool = True
    # How this service authenticates to the system APIs: OAuth2 client credentials against
    # ``token_url``, or (local use and tests) a fixed ``service_token``.
    token_url: str | None = None
    client_id: str = "orders"
    client_secret: str | None = None
    service_token: str | None = None


def load_orders_settings(environ: Mapping[str, str] | None = None) -> OrdersSettings:
    return load_settings(OrdersSettings, environ, prefix=PREFIX)
