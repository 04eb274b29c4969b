"""Settings of the Tryton adapter: where the ERP is, who logs in, which warehouse is home."""

from __future__ import annotations

from typing import Annotated

import msgspec


class TrytonSettings(msgspec.Struct, frozen=True, kw_only=True):
    """One Tryton database as the ERP system API sees it (``STRATA_ERP_TRYTON_*``)."""

    url: str
    database: str
    user: str
    password: str
    # The warehouse (``stock.location`` code) stock reads and sales use when none is named.
    warehouse_code: str = "WH"
    # Seconds to wait for one RPC answer before UpstreamTimeout.
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 15.0
    # Retry-After (seconds) suggested to callers when the ERP is unreachable.
    retry_after: Annotated[int, msgspec.Meta(ge=1)] = 5
    # How long SKU -> product id lookups stay cached (products are rarely recoded).
    sku_cache_seconds: Annotated[float, msgspec.Meta(ge=0)] = 600.0
    # How long a customer (party, email contact, addresses) found by email stays cached.
    customer_cache_seconds: Annotated[float, msgspec.Meta(ge=0)] = 300.0
