"""Settings of the Shopify system API: one object, read once at start-up from
``STRATA_SHOPIFY_*`` environment variables.

Several stores are served by one deployment: ``STRATA_SHOPIFY_SHOPS`` is a JSON object from
shop domain to that store's webhook secret (the app's client secret), the previous secret
while a rotation is under way, and the Admin API access token. Nested parts are read under
their own variables: ``ratelimit`` from ``STRATA_SHOPIFY_RATELIMIT_*``, and ``auth`` (shared
by every service) from ``STRATA_AUTH_*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from shared.app import SERVICE_REDIS, service_rate_limits
from shared.auth import AuthSettings
from shared.ratelimit import RateLimitSettings
from shared.settings import SettingsError, load_settings, own_prefix
from shared.streams import DEFAULT_PREFIX

PREFIX = "STRATA_SHOPIFY_"
#: The API paths the default rate-limit policy covers (not the webhooks: Shopify must never
#: be refused for volume).
API_PATHS = "/shopify/v1/shops/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_API_VERSION = "2026-10"


class ShopConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One store: how its webhooks are signed and how we call its Admin API."""

    secret: Annotated[str, msgspec.Meta(min_length=1)]
    previous_secret: str | None = None
    access_token: str | None = None


class ShopifySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one ``shopify`` deployment can be told at start-up."""

    shops: dict[str, ShopConfig] = msgspec.field(default_factory=dict)
    redis_url: str = DEFAULT_REDIS_URL
    redis_cluster: bool = False
    redis_timeout: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    # Be ready on a Redis that keeps webhooks in memory only (no append-only file, no
    # replica): a Redis restart then loses webhooks already answered 200 (docs/durability.md).
    redis_accept_volatile: bool = False
    # Webhook ingress.
    webhook_max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 2 * 1024 * 1024
    stream_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9:_\-]+$")] = DEFAULT_PREFIX
    # Streams per family; its consumers must read every one (``WebhookStreams.streams``).
    stream_shards: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 1
    # Approximate MAXLEN of each stream; 0 leaves trimming to the retention below. A MAXLEN
    # cuts entries whether or not they were consumed: keep it 0 unless Redis memory matters
    # more than the webhooks.
    stream_maxlen: Annotated[int, msgspec.Meta(ge=0)] = 0
    # Seconds an entry is kept after it arrived, and then only once every consumer group of
    # its stream has acknowledged it (``shared.retention``); dead letters are never trimmed.
    stream_retention: Annotated[int, msgspec.Meta(ge=0)] = 7 * 24 * 3600
    # Seconds between two trims of every webhook stream; 0 turns trimming off.
    stream_trim_interval: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    # Shopify retries for 4 hours and duplicates arrive later still: remember ids for 2 days.
    dedupe_ttl: Annotated[int, msgspec.Meta(ge=60)] = 2 * 24 * 3600
    append_batch_max: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 256
    # Batches out at once, each on its own connection. One is best next to a local Redis
    # (batches grow while it answers); more help when the round trip to Redis is long.
    append_in_flight_max: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    unavailable_retry_after: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 5
    # Admin GraphQL.
    api_version: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(01|04|07|10)$")] = (
        DEFAULT_API_VERSION
    )
    # ``{shop}`` and ``{version}`` are filled in; the sandbox serves the same paths over http.
    admin_url: str = "https://{shop}/admin/api/{version}/graphql.json"
    # Seconds to wait for a connection to Shopify (never longer than ``read_timeout``).
    connect_timeout: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    # The one timeout of an Admin GraphQL request: seconds it may take from start to last
    # byte (connecting included) before the API answers 504. Waiting for the shop's cost
    # bucket comes before it (``max_throttle_wait``), and each retry after THROTTLED is a
    # request of its own.
    read_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # The cost bucket assumed until Shopify's first throttleStatus (Standard plan).
    bucket_size: Annotated[float, msgspec.Meta(gt=0)] = 2000.0
    restore_rate: Annotated[float, msgspec.Meta(gt=0)] = 100.0
    max_throttle_wait: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    throttled_retries: Annotated[int, msgspec.Meta(ge=0, le=20)] = 5
    # Inbound rate limits of the shop routes (``STRATA_SHOPIFY_RATELIMIT_*``): on this
    # service's Redis unless ``STRATA_SHOPIFY_RATELIMIT_REDIS_URL`` names another, and the
    # default policy of :func:`shared.app.service_rate_limits` unless policies are configured.
    ratelimit: RateLimitSettings = msgspec.field(
        default_factory=lambda: RateLimitSettings(redis_url=SERVICE_REDIS)
    )
    # How callers' tokens are checked, shared by every service (``STRATA_AUTH_*``).
    auth: Annotated[AuthSettings, own_prefix("STRATA_AUTH_")] = msgspec.field(
        default_factory=AuthSettings
    )

    def __post_init__(self) -> None:
        # The rate limits' defaults are the service's (its Redis, its API paths), known only
        # once the other fields are.
        msgspec.structs.force_setattr(
            self,
            "ratelimit",
            service_rate_limits(self.ratelimit, redis_url=self.redis_url, api_prefix=API_PATHS),
        )

    def shop(self, domain: str) -> ShopConfig | None:
        """The configuration of ``domain`` (case-insensitive), or None if not allowed."""
        return self.shops.get(domain.lower())


def load_shopify_settings(environ: Mapping[str, str] | None = None) -> ShopifySettings:
    """Read :class:`ShopifySettings` once, at start-up, from ``STRATA_SHOPIFY_*`` variables
    (JSON for ``SHOPS``); a ``STRATA_SHOPIFY_*`` variable that is no setting stops start-up
    (a misspelt variable would otherwise leave its default in force)."""
    import os

    env = dict(os.environ if environ is None else environ)
    # The rate limiter uses the service's Redis unless told otherwise.
    service_redis = env.get(f"{PREFIX}REDIS_URL", DEFAULT_REDIS_URL)
    env.setdefault(f"{PREFIX}RATELIMIT_REDIS_URL", service_redis)
    settings = load_settings(ShopifySettings, env, prefix=PREFIX, reject_unknown=True)
    return normalise(settings)


def normalise(settings: ShopifySettings) -> ShopifySettings:
    """Lower-case shop domains and refuse ones that are not ``*.myshopify.com``-like hosts."""
    shops: dict[str, ShopConfig] = {}
    for domain, config in settings.shops.items():
        key = domain.strip().lower()
        if not key or "/" in key or " " in key:
            raise SettingsError(f"{PREFIX}SHOPS: {domain!r} is not a shop domain")
        shops[key] = config
    if "{shop}" not in settings.admin_url and "{version}" not in settings.admin_url:
        raise SettingsError(f"{PREFIX}ADMIN_URL: must contain {{shop}} or {{version}}")
    return msgspec.structs.replace(settings, shops=shops)
