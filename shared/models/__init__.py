"""Canonical retail models, the only shapes that cross a port or a layer boundary.

Money is a ``Decimal`` amount with an ISO 4217 currency code, never a float, exact in the
currency's minor units (:mod:`shared.models.money`). New fields always
get defaults so that older producers and consumers keep working (schema evolution).
"""

from shared.models.catalog import Product, Variant
from shared.models.commerce import (
    Address,
    ChargeKind,
    CreditNote,
    Customer,
    DiscountAllocation,
    DiscountScope,
    Invoice,
    InvoiceLine,
    LineKind,
    Money,
    OrderCharge,
    OrderLine,
    OrderSource,
    OrderStatus,
    Return,
    ReturnLine,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    ShipmentChanges,
    ShipmentLine,
    ShipmentPackage,
    ShipmentParcel,
    ShipmentRecord,
    ShipmentRecordLine,
    StockLevel,
    TaxLine,
)
from shared.models.money import exponent, is_exact, minor_unit, round_money

__all__ = [
    "Address",
    "ChargeKind",
    "CreditNote",
    "Customer",
    "DiscountAllocation",
    "DiscountScope",
    "Invoice",
    "InvoiceLine",
    "LineKind",
    "Money",
    "OrderCharge",
    "OrderLine",
    "OrderSource",
    "OrderStatus",
    "Product",
    "Return",
    "ReturnLine",
    "SalesOrder",
    "SalesOrderDraft",
    "Shipment",
    "ShipmentChanges",
    "ShipmentLine",
    "ShipmentPackage",
    "ShipmentParcel",
    "ShipmentRecord",
    "ShipmentRecordLine",
    "StockLevel",
    "TaxLine",
    "Variant",
    "exponent",
    "is_exact",
    "minor_unit",
    "round_money",
]
