"""Canonical retail models, the only shapes that cross a port or a layer boundary.

Money is a ``Decimal`` amount with an ISO 4217 currency code, never a float. New fields always
get defaults so that older producers and consumers keep working (schema evolution).
"""

from shared.models.catalog import Product, Variant
from shared.models.commerce import (
    Address,
    CreditNote,
    Customer,
    Invoice,
    InvoiceLine,
    Money,
    OrderLine,
    OrderStatus,
    Return,
    ReturnLine,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    ShipmentLine,
    StockLevel,
)

__all__ = [
    "Address",
    "CreditNote",
    "Customer",
    "Invoice",
    "InvoiceLine",
    "Money",
    "OrderLine",
    "OrderStatus",
    "Product",
    "Return",
    "ReturnLine",
    "SalesOrder",
    "SalesOrderDraft",
    "Shipment",
    "ShipmentLine",
    "StockLevel",
    "Variant",
]
