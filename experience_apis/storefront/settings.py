"""Settings of the storefront experience API, from ``STRATA_STOREFRONT_*``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from shared.settings import load_settings

PREFIX = "STRATA_STOREFRONT_"


class StorefrontSettings(msgspec.Struct, frozen=True, kw_only=True):
    # Redis holds the rate-limit state only; this service keeps no data of its own.
    redis_url: str = "redis://127.0.0.1:6379/0"
    inventory_url: str = "http://127.0.0.1:8130"
    orders_url: str = "http://127.0.0.1:8120"
    upstream_timeout: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0
    # At or below this many units a product shows "only N left"; above it just "in stock".
    low_stock_threshold: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 5
    # How this service authenticates to the process APIs: OAuth2 client credentials against
    # ``token_url``, or (local use and tests) a fixed ``service_token``.
    token_url: str | None = None
    client_id: str = "storefront"
    client_secret: str | None = None
    service_token: str | None = None


def load_storefront_settings(environ: Mapping[str, str] | None = None) -> StorefrontSettings:
    """Read ``STRATA_STOREFRONT_*`` into :class:`StorefrontSettings`."""
    return load_settings(StorefrontSettings, environ, prefix=PREFIX)
