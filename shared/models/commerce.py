"""Canonical order, product, stock, shipment, invoice and return models (v1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec

CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
# No \s in patterns: Python's and ECMA's \s differ (\x1c-\x1f), and clients validate too.
Email = Annotated[
    str, msgspec.Meta(pattern=r"^[^@\x00-\x20]+@[^@\x00-\x20]+\.[^@\x00-\x20]+$", max_length=254)
]
# Decimals travel as strings; the pattern documents the accepted form in the contract.
UnitPrice = Annotated[
    Decimal,
    msgspec.Meta(
        description="A non-negative decimal amount as a string, e.g. `19.90`",
        extra_json_schema={"extra": {"pattern": r"^[0-9]{1,12}(\.[0-9]{1,6})?$"}},
    ),
]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class Money(msgspec.Struct, frozen=True, kw_only=True):
    amount: Decimal
    currency: CurrencyCode


class Address(msgspec.Struct, frozen=True, kw_only=True):
    name: str = ""
    street: str = ""
    city: str = ""
    postal_code: str = ""
    country: CountryCode | None = None


class Customer(msgspec.Struct, frozen=True, kw_only=True):
    id: str | None = None
    email: Email
    name: str = ""
    phone: str | None = None
    addresses: list[Address] = []


class StockLevel(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    warehouse: str
    on_hand: Decimal
    forecast: Decimal
    available: Decimal


class OrderLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sku: Sku
    quantity: Quantity
    unit_price: UnitPrice
    description: str | None = None

    def __post_init__(self) -> None:
        # msgspec can't bound a Decimal in Meta; a negative price is never a valid line.
        if not self.unit_price.is_finite() or self.unit_price < 0:
            raise ValueError("unit_price must be a finite amount >= 0")


class OrderStatus(StrEnum):
    DRAFT = "draft"
    QUOTED = "quoted"
    CONFIRMED = "confirmed"
    PROCESSING = "processing"
    DONE = "done"
    CANCELLED = "cancelled"


class SalesOrderDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A sales order as a channel hands it over, before the ERP has numbered it."""

    external_reference: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    currency: CurrencyCode
    customer: Customer
    lines: Annotated[list[OrderLine], msgspec.Meta(min_length=1, max_length=250)]
    shipping_address: Address | None = None
    ordered_at: dt.datetime | None = None
    channel: str = "shopify"
    note: str | None = None


class SalesOrder(msgspec.Struct, frozen=True, kw_only=True):
    """A sales order as the ERP holds it."""

    id: str
    number: str | None
    external_reference: str
    status: OrderStatus
    currency: CurrencyCode
    customer_email: str | None
    lines: list[OrderLine]
    total: Money
    created_at: dt.datetime | None = None
    shipped: bool = False


class ShipmentLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    quantity: Decimal


class Shipment(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    number: str | None
    state: str
    lines: list[ShipmentLine] = []
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: dt.datetime | None = None
    is_return: bool = False


class InvoiceLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str | None
    quantity: Decimal
    unit_price: Decimal


class Invoice(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    number: str | None
    state: str
    total: Money
    invoice_date: dt.date | None = None
    lines: list[InvoiceLine] = []


class CreditNote(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    number: str | None
    state: str
    total: Money
    credited_invoice: str | None = None
    invoice_date: dt.date | None = None


class ReturnLine(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    quantity: Quantity
    reason: str | None = None


class Return(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    order_id: str
    state: str
    lines: list[ReturnLine]
