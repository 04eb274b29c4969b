"""Settings of the service-desk experience API: one object, read once at start-up from
``STRATA_SERVICE_DESK_*``.

``auth`` (shared by every service) is read from ``STRATA_AUTH_*``. The rate limits, under
``STRATA_SERVICE_DESK_RATELIMIT_*``, are read beside this object by
:func:`shared.app.load_rate_limit_settings`; every other ``STRATA_SERVICE_DESK_*`` variable
that names no setting stops start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

import msgspec

from shared.auth import AuthSettings
from shared.ratelimit import RateLimitSettings
from shared.settings import load_settings, own_prefix

PREFIX = "STRATA_SERVICE_DESK_"
#: Where :func:`shared.app.load_rate_limit_settings` reads this service's rate limits.
RATELIMIT_PREFIX = f"{PREFIX}RATELIMIT_"


class ServiceDeskSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service desk reads from its environment (tests build it directly)."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # The Helm chart says whether the deployment's Redis is a Redis Cluster. The answer cache
    # talks to one Redis node only, so true stops start-up rather than miss on every key
    # another node holds.
    redis_cluster: bool = False
    # The orders process API: the only service this one calls.
    orders_api_url: str = "http://127.0.0.1:8120"
    # The one deadline of a call to the orders API, all of it (service token, connection,
    # request, answer and a retry after an unavailable answer): past it the agent gets a 504.
    # No phase of the HTTP client outlasts it. Keep it above the orders process's
    # STRATA_ORDERS_CONTEXT_UPSTREAM_TIMEOUT, so that a silent system leaves one section of
    # an order's context unavailable instead of failing the whole answer.
    orders_timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    # Agents reopen the same ticket often; a short cache spares the fan-out behind it.
    cache_ttl: Annotated[float, msgspec.Meta(gt=0, le=300)] = 15.0
    # A context with an unavailable section is kept briefly, so a recovered system shows soon.
    partial_cache_ttl: Annotated[float, msgspec.Meta(gt=0, le=300)] = 3.0
    cache_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9:_\-{}]+$")] = (
        "strata:service-desk"
    )
    # How this service authenticates to the orders API: OAuth2 client credentials against
    # ``token_url``, or (local use and tests) a fixed ``service_token``.
    token_url: str | None = None
    client_id: str = "service-desk"
    client_secret: str | None = None
    service_token: str | None = None
    # How callers' tokens are checked, shared by every service (``STRATA_AUTH_*``).
    auth: Annotated[AuthSettings, own_prefix("STRATA_AUTH_")] = msgspec.field(
        default_factory=AuthSettings
    )


def load_service_desk_settings(environ: Mapping[str, str] | None = None) -> ServiceDeskSettings:
    """Read :class:`ServiceDeskSettings` once, at start-up; a ``STRATA_SERVICE_DESK_*``
    variable that is no setting (nor a rate-limit setting) stops start-up, since a misspelt
    variable would otherwise leave its default in force."""
    env = os.environ if environ is None else environ
    # The rate limits are read beside these settings (shared.app.load_rate_limit_settings);
    # they are checked here too, so that a misspelt one is named, with the right name, now.
    load_settings(RateLimitSettings, env, prefix=RATELIMIT_PREFIX, reject_unknown=True)
    own = {name: value for name, value in env.items() if not name.startswith(RATELIMIT_PREFIX)}
    return load_settings(ServiceDeskSettings, own, prefix=PREFIX, reject_unknown=True)
