"""Settings of the inventory process: one object, read once at start-up from ``STRATA_INVENTORY_*``.

``auth`` (shared by every service) is read from ``STRATA_AUTH_*``. The rate limits, under
``STRATA_INVENTORY_RATELIMIT_*``, are read beside this object by
:func:`shared.app.load_rate_limit_settings`; every other ``STRATA_INVENTORY_*`` variable that
names no setting stops start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

import msgspec

from shared.auth import AuthSettings
from shared.ratelimit import RateLimitSettings
from shared.settings import load_settings, own_prefix

PREFIX = "STRATA_INVENTORY_"
#: Where :func:`shared.app.load_rate_limit_settings` reads this service's rate limits.
RATELIMIT_PREFIX = f"{PREFIX}RATELIMIT_"


class InventorySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the inventory process reads from its environment (tests build it directly)."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # The Helm chart says whether the deployment's Redis is a Redis Cluster. This process
    # talks to one Redis node only, so true stops start-up rather than fail on every key
    # another node holds.
    redis_cluster: bool = False
    # ERP instance name -> base URL of its ERP system API; every one is asked for stock.
    erp_instances: dict[str, str] = msgspec.field(
        default_factory=lambda: {"eu": "http://127.0.0.1:8101", "us": "http://127.0.0.1:8102"}
    )
    # The one deadline of a stock read from one ERP instance, all of it (service token,
    # connection, request and answer; never retried): past it the instance is reported
    # unavailable and the others are served. No phase of the HTTP client outlasts it. Keep
    # it below the callers' timeouts (STRATA_STOREFRONT_INVENTORY_TIMEOUT), so that they get
    # a partial answer rather than none.
    erp_timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0
    # How long an ERP stock read is served from memory: short, since stock moves.
    stock_cache_ttl: Annotated[float, msgspec.Meta(ge=0, le=60)] = 3.0
    # How long a failed instance is not asked again, so a down ERP costs one timeout, not many.
    failure_cache_ttl: Annotated[float, msgspec.Meta(ge=0, le=60)] = 1.0
    reservation_ttl: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 900
    max_reservation_ttl: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 3600
    # Redis key prefix; the hash tag keeps every reservation key in one slot, so one script
    # can check and hold several SKUs atomically on Redis Cluster too.
    key_prefix: str = "strata:inventory:{inventory}"
    # How this service authenticates to the ERP system APIs: OAuth2 client credentials
    # against ``token_url``, or (local use and tests) a fixed ``service_token``.
    token_url: str | None = None
    client_id: str = "inventory"
    client_secret: str | None = None
    service_token: str | None = None
    # How callers' tokens are checked, shared by every service (``STRATA_AUTH_*``).
    auth: Annotated[AuthSettings, own_prefix("STRATA_AUTH_")] = msgspec.field(
        default_factory=AuthSettings
    )


def load_inventory_settings(environ: Mapping[str, str] | None = None) -> InventorySettings:
    """Read :class:`InventorySettings` once, at start-up; a ``STRATA_INVENTORY_*`` variable
    that is no setting (nor a rate-limit setting) stops start-up, since a misspelt variable
    would otherwise leave its default in force."""
    env = os.environ if environ is None else environ
    # The rate limits are read beside these settings (shared.app.load_rate_limit_settings);
    # they are checked here too, so that a misspelt one is named, with the right name, now.
    load_settings(RateLimitSettings, env, prefix=RATELIMIT_PREFIX, reject_unknown=True)
    own = {name: value for name, value in env.items() if not name.startswith(RATELIMIT_PREFIX)}
    return load_settings(InventorySettings, own, prefix=PREFIX, reject_unknown=True)
