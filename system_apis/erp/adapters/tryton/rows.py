"""Values every concern of the Tryton adapter reads off Tryton rows: ids, quantities, times."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from system_apis.erp.port import OrderNotFound

Row = dict[str, Any]

# Shipment states in which the goods have left: a sale in them can no longer be cancelled.
SHIPPED_STATES = frozenset({"shipped", "done"})


def parse_sale_id(order_id: str) -> int:
    """The Tryton id of sales order ``order_id``; OrderNotFound unless it is a positive integer."""
    if not order_id.isdigit() or int(order_id) <= 0:
        raise OrderNotFound(f"no sales order {order_id!r}")
    return int(order_id)


def quantity(value: float | None) -> Decimal:
    """A Tryton float quantity as a Decimal (whole numbers without a fraction part)."""
    if value is None:
        return Decimal(0)
    if float(value).is_integer():
        return Decimal(int(value))
    return Decimal(str(value))


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A Tryton timestamp as an aware UTC datetime."""
    # Tryton keeps naive UTC timestamps.
    return value.replace(tzinfo=dt.UTC) if value is not None else None
