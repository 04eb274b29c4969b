"""Settings of the service-desk experience API, from ``STRATA_SERVICE_DESK_*``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from shared.settings import load_settings

PREFIX = "STRATA_SERVICE_DESK_"


class ServiceDeskSettings(msgspec.Struct, frozen=True, kw_only=True):
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The orders process API: the only service this one calls.
    orders_api_url: str = "http://127.0.0.1:8120"
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


def load_service_desk_settings(environ: Mapping[str, str] | None = None) -> ServiceDeskSettings:
    """Read :class:`ServiceDeskSettings` from ``STRATA_SERVICE_DESK_*``."""
    return load_settings(ServiceDeskSettings, environ, prefix=PREFIX)
