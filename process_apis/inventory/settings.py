"""Settings of the inventory process, from ``STRATA_INVENTORY_*``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from shared.settings import load_settings

PREFIX = "STRATA_INVENTORY_"


class InventorySettings(msgspec.Struct, frozen=True, kw_only=True):
    redis_url: str = "redis://127.0.0.1:6379/0"
    # ERP instance name -> base URL of its ERP system API; every one is asked for stock.
    erp_instances: dict[str, str] = msgspec.field(
        default_factory=lambda: {"eu": "http://127.0.0.1:8101", "us": "http://127.0.0.1:8102"}
    )
    # An instance that has not answered by then is reported unavailable; the rest are served.
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


def load_inventory_settings(environ: Mapping[str, str] | None = None) -> InventorySettings:
    """Read ``STRATA_INVENTORY_*`` into :class:`InventorySettings`."""
    return load_settings(InventorySettings, environ, prefix=PREFIX)
