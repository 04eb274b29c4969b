"""Settings of the Tryton adapter: where the ERP is, who logs in, which warehouse is home."""

from __future__ import annotations

from typing import Annotated

import msgspec

#: Seconds one Tryton JSON-RPC call may take, end to end, unless told otherwise: the default
#: of ``STRATA_ERP_READ_TIMEOUT``, from which the ERP system API sets :attr:`timeout`.
DEFAULT_CALL_TIMEOUT = 30.0


class TrytonSettings(msgspec.Struct, frozen=True, kw_only=True):
    """One Tryton database as the ERP system API sees it (built from ``ErpSettings``)."""

    url: str
    database: str
    user: str
    password: str
    # The warehouse (``stock.location`` code) stock reads and sales use when none is named.
    warehouse_code: str = "WH"
    # Seconds one JSON-RPC call may take from start to last byte (waiting for a connection,
    # connecting, sending, the whole answer) before UpstreamTimeout.
    timeout: Annotated[float, msgspec.Meta(gt=0)] = DEFAULT_CALL_TIMEOUT
    # Retry-After (seconds) suggested to callers when the ERP is unreachable.
    retry_after: Annotated[int, msgspec.Meta(ge=1)] = 5
    # How long SKU -> product id lookups stay cached (products are rarely recoded).
    sku_cache_seconds: Annotated[float, msgspec.Meta(ge=0)] = 600.0
    # How long a customer (party, email contact, addresses) found by email stays cached.
    customer_cache_seconds: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    # How long sales taxes, payment terms and the charge products stay cached.
    master_data_cache_seconds: Annotated[float, msgspec.Meta(ge=0)] = 600.0
    # Codes of the ERP's non-stock products an order's charges and special lines post on.
    shipping_product: str = "SHIPPING"
    discount_product: str = "DISCOUNT"
    duty_product: str = "DUTY"
    tip_product: str = "TIP"
    fee_product: str = "FEE"
    gift_card_product: str = "GIFT-CARD"
    adjustment_product: str = "ADJUSTMENT"
    # The largest difference (in the currency's minor units) between the ERP's total and the
    # channel's that an adjustment line may absorb; a larger one is refused (an exception an
    # operator sees): it means a part of the order was not mapped, not a rounding.
    max_adjustment_minor_units: Annotated[int, msgspec.Meta(ge=0)] = 100
