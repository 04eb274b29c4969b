"""Settings of the catalog process: one object, read once at start-up from ``STRATA_CATALOG_*``.

``auth`` is read from ``STRATA_AUTH_*``; the rate limits, under ``STRATA_CATALOG_RATELIMIT_*``,
beside this object by :func:`shared.app.load_rate_limit_settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

import msgspec

from shared.auth import AuthSettings
from shared.ratelimit import RateLimitSettings
from shared.settings import load_settings, own_prefix

PREFIX = "STRATA_CATALOG_"
RATELIMIT_PREFIX = f"{PREFIX}RATELIMIT_"


class ShopCatalog(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What one shop sells: the ERP instance it is fed from, its currency, (optionally) the
    SKU prefixes of its part of the catalogue, and the sales channels' publications (by name)
    its products are published to."""

    instance: str
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    sku_prefixes: list[str] = []
    # A product Strata creates (or adopts) is published to each of these once; a merchant who
    # later takes it off a channel is not overruled. Empty: Strata publishes nowhere.
    publications: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=255)]],
        msgspec.Meta(max_length=20),
    ] = msgspec.field(default_factory=lambda: ["Online Store"])


class CatalogSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the catalog process reads from its environment (tests build it directly)."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    # ERP instance name -> base URL of its ERP system API.
    erp_instances: dict[str, str] = msgspec.field(
        default_factory=lambda: {"eu": "http://127.0.0.1:8101", "us": "http://127.0.0.1:8102"}
    )
    shopify_url: str = "http://127.0.0.1:8110"
    # Shop domain -> what it sells.
    shops: dict[str, ShopCatalog] = msgspec.field(
        default_factory=lambda: {
            "demo-eu.myshopify.com": ShopCatalog(instance="eu", currency="EUR"),
            "demo-us.myshopify.com": ShopCatalog(instance="us", currency="USD"),
        }
    )
    # How far before the watermark a delta run reads again: ERP and Strata clocks differ, and
    # a write committed while a run read may carry an earlier write date.
    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 300
    # Seconds between scheduled delta runs; 0 runs only when asked.
    schedule_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 0
    # The publisher's lock lapses this long after its last renewal (a crashed publisher's
    # lock frees itself); renewed after every product.
    lock_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 60
    page_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50
    # A bulk back-fill waits this long for Shopify's bulk_operations/finish webhook before
    # asking Shopify for the operation's state (and again after each such wait).
    bulk_late_seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = 10.0
    # Products per bulk operation; a larger catalogue runs several, one after the other
    # (Shopify takes a JSONL file of at most 20 MB).
    bulk_lines_max: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5000
    # Where the Shopify ingress appends webhooks (the bulk_operations/finish wait reads them).
    webhook_stream_prefix: str = "strata:webhooks"
    webhook_stream_shards: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    timeout: Annotated[float, msgspec.Meta(gt=0, le=120)] = 30.0
    key_prefix: str = "strata:catalog"
    token_url: str | None = None
    client_id: str = "catalog"
    client_secret: str | None = None
    service_token: str | None = None
    auth: Annotated[AuthSettings, own_prefix("STRATA_AUTH_")] = msgspec.field(
        default_factory=AuthSettings
    )


def load_catalog_settings(environ: Mapping[str, str] | None = None) -> CatalogSettings:
    """Read :class:`CatalogSettings` once, at start-up; an unknown ``STRATA_CATALOG_*``
    variable stops start-up."""
    env = os.environ if environ is None else environ
    load_settings(RateLimitSettings, env, prefix=RATELIMIT_PREFIX, reject_unknown=True)
    own = {name: value for name, value in env.items() if not name.startswith(RATELIMIT_PREFIX)}
    return load_settings(CatalogSettings, own, prefix=PREFIX, reject_unknown=True)
