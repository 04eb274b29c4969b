"""Settings of the storefront experience API: one object, read once at start-up from
``STRATA_STOREFRONT_*``.

``auth`` (shared by every service) is read from ``STRATA_AUTH_*``. The rate limits, under
``STRATA_STOREFRONT_RATELIMIT_*``, are read beside this object by
:func:`shared.app.load_rate_limit_settings`; every other ``STRATA_STOREFRONT_*`` variable that
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

PREFIX = "STRATA_STOREFRONT_"
#: Where :func:`shared.app.load_rate_limit_settings` reads this service's rate limits.
RATELIMIT_PREFIX = f"{PREFIX}RATELIMIT_"

Seconds = Annotated[float, msgspec.Meta(gt=0, le=60)]


class StorefrontSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the storefront reads from its environment (tests build it directly)."""

    # Redis holds the rate-limit state only; this service keeps no data of its own. Both are
    # the rate limiter's defaults (STRATA_STOREFRONT_RATELIMIT_REDIS_URL and _CLUSTER).
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    # The process APIs this service calls (the Helm chart's STRATA_<SERVICE>_<API>_API_URL).
    inventory_api_url: str = "http://127.0.0.1:8130"
    orders_api_url: str = "http://127.0.0.1:8120"
    # The one deadline of a call to the inventory API, all of it (service token, connection,
    # request, answer and a retry after an unavailable answer): past it the storefront
    # answers 504. No phase of the HTTP client outlasts it. Keep it above the inventory's
    # STRATA_INVENTORY_ERP_TIMEOUT, so that a slow ERP gives a partial answer, not a 504.
    inventory_timeout: Seconds = 5.0
    # The one deadline of a call to the orders API (an order's status), likewise.
    orders_timeout: Seconds = 5.0
    # At or below this many units a product shows "only N left"; above it just "in stock".
    low_stock_threshold: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 5
    # How long each SKU's availability answer is kept and shown again, read again in the
    # background after half of it (0: ask the inventory process every time). A shown figure
    # may be this much older than the reservations; reserving still checks the live figure.
    availability_cache_ttl: Annotated[float, msgspec.Meta(ge=0, le=60)] = 1.0
    # How this service authenticates to the process APIs: OAuth2 client credentials against
    # ``token_url``, or (local use and tests) a fixed ``service_token``.
    token_url: str | None = None
    client_id: str = "storefront"
    client_secret: str | None = None
    service_token: str | None = None
    # How callers' tokens are checked, shared by every service (``STRATA_AUTH_*``).
    auth: Annotated[AuthSettings, own_prefix("STRATA_AUTH_")] = msgspec.field(
        default_factory=AuthSettings
    )


def load_storefront_settings(environ: Mapping[str, str] | None = None) -> StorefrontSettings:
    """Read :class:`StorefrontSettings` once, at start-up; a ``STRATA_STOREFRONT_*`` variable
    that is no setting (nor a rate-limit setting) stops start-up, since a misspelt variable
    would otherwise leave its default in force (the process APIs then called on 127.0.0.1)."""
    env = os.environ if environ is None else environ
    # The rate limits are read beside these settings (shared.app.load_rate_limit_settings);
    # they are checked here too, so that a misspelt one is named, with the right name, now.
    load_settings(RateLimitSettings, env, prefix=RATELIMIT_PREFIX, reject_unknown=True)
    own = {name: value for name, value in env.items() if not name.startswith(RATELIMIT_PREFIX)}
    return load_settings(StorefrontSettings, own, prefix=PREFIX, reject_unknown=True)
