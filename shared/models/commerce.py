"""Canonical order, product, stock, shipment, invoice and return models (v1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec

from shared.models.money import is_exact

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
Amount = Annotated[
    Decimal,
    msgspec.Meta(
        description="A decimal amount as a string, e.g. `9.89`",
        extra_json_schema={"extra": {"pattern": r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$"}},
    ),
]
TaxRate = Annotated[
    Decimal,
    msgspec.Meta(
        description="A fraction as a string, e.g. `0.2` for 20 %",
        extra_json_schema={"extra": {"pattern": r"^0(\.[0-9]{1,10})?$"}},
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


class TaxLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One tax charged on a line or charge: ``rate`` as a fraction (``0.2`` is 20 %) and its
    ``amount`` in the order's currency, as the channel computed it."""

    rate: TaxRate
    amount: Amount
    title: str = ""

    def __post_init__(self) -> None:
        if not self.rate.is_finite() or not Decimal(0) <= self.rate < Decimal(1):
            raise ValueError("a tax rate must be a fraction >= 0 and < 1")
        if not self.amount.is_finite():
            raise ValueError("a tax amount must be finite")


class DiscountScope(StrEnum):
    """Where a discount was given: on the line itself, or on the whole order and allocated."""

    LINE = "line"
    ORDER = "order"
    SHIPPING = "shipping"


class DiscountAllocation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The part of one discount that falls on a line or charge (order currency)."""

    amount: UnitPrice
    # The discount code, or the automatic discount's title.
    title: str = ""
    scope: DiscountScope = DiscountScope.LINE

    def __post_init__(self) -> None:
        if not self.amount.is_finite() or self.amount < 0:
            raise ValueError("a discount amount must be a finite amount >= 0")


class LineKind(StrEnum):
    """What a line sells: stock, a gift card (a liability, untaxed), or a custom item."""

    PRODUCT = "product"
    GIFT_CARD = "gift_card"
    CUSTOM = "custom"


class OrderLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An order line; ``unit_price`` before discounts, taxes included when the order says so.

    A line's total is ``quantity * unit_price - sum(discounts)``; its ``taxes`` are charged on
    that (added to it, or contained in it when the order's ``taxes_included``).
    """

    sku: Sku
    quantity: Quantity
    unit_price: UnitPrice
    description: str | None = None
    kind: LineKind = LineKind.PRODUCT
    discounts: list[DiscountAllocation] = []
    taxes: list[TaxLine] = []
    # The unit price the buyer saw, in the order's presentment currency.
    presentment_unit_price: UnitPrice | None = None

    def __post_init__(self) -> None:
        # msgspec can't bound a Decimal in Meta; a negative price is never a valid line.
        if not self.unit_price.is_finite() or self.unit_price < 0:
            raise ValueError("unit_price must be a finite amount >= 0")
        price = self.presentment_unit_price
        if price is not None and (not price.is_finite() or price < 0):
            raise ValueError("presentment_unit_price must be a finite amount >= 0")

    @property
    def discount_total(self) -> Decimal:
        """The discounts allocated to this line."""
        return sum((d.amount for d in self.discounts), Decimal(0))

    @property
    def tax_total(self) -> Decimal:
        """The taxes charged on this line."""
        return sum((t.amount for t in self.taxes), Decimal(0))


class ChargeKind(StrEnum):
    """An order-level amount that is no product line."""

    SHIPPING = "shipping"
    DUTY = "duty"
    TIP = "tip"
    FEE = "fee"
    # A discount on the whole order that the channel did not allocate to lines.
    DISCOUNT = "discount"


class OrderCharge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Shipping, a duty, a tip, a fee, or an unallocated order discount (order currency).

    ``amount`` is positive; a ``discount`` charge lowers the total by it. Its own discounts
    (a free-shipping code) and taxes work as on a line.
    """

    kind: ChargeKind
    amount: UnitPrice
    title: str = ""
    code: str | None = None
    discounts: list[DiscountAllocation] = []
    taxes: list[TaxLine] = []

    def __post_init__(self) -> None:
        if not self.amount.is_finite() or self.amount < 0:
            raise ValueError("a charge amount must be a finite amount >= 0")

    @property
    def discount_total(self) -> Decimal:
        """The discounts allocated to this charge."""
        return sum((d.amount for d in self.discounts), Decimal(0))

    @property
    def tax_total(self) -> Decimal:
        """The taxes charged on this charge."""
        return sum((t.amount for t in self.taxes), Decimal(0))


class OrderSource(StrEnum):
    """Where the buyer placed the order."""

    WEB = "web"
    POS = "pos"
    MARKETPLACE = "marketplace"
    DRAFT_ORDER = "draft_order"
    OTHER = "other"


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
    source: OrderSource = OrderSource.WEB
    # Line prices and charges contain their taxes (EU shops) rather than having them added.
    taxes_included: bool = False
    charges: list[OrderCharge] = []
    # What the channel says the order totals, in ``currency`` (Shopify's
    # ``current_total_price``): the ERP's total must equal it, to the minor unit.
    expected_total: UnitPrice | None = None
    # The buyer's currency and total when it differs from ``currency`` (the shop's).
    presentment_currency: CurrencyCode | None = None
    presentment_total: UnitPrice | None = None
    discount_codes: list[str] = []
    # How it was paid (``gift_card`` among them): payments never change the order's total.
    payment_gateways: list[str] = []
    # A business buyer: the company ordering, its purchase order and agreed payment terms.
    company_name: str | None = None
    purchase_order_number: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    payment_terms: Annotated[str, msgspec.Meta(max_length=64)] | None = None

    def __post_init__(self) -> None:
        for name in ("expected_total", "presentment_total"):
            value = getattr(self, name)
            if value is not None and (not value.is_finite() or value < 0):
                raise ValueError(f"{name} must be a finite amount >= 0")

    def inexact_amounts(self) -> list[dict[str, str]]:
        """Amounts finer than their currency's minor unit (cents of a yen), each named: a
        business rule the receiving service answers with 422, not a malformed body."""
        amounts: list[tuple[str, Decimal]] = []
        if self.expected_total is not None:
            amounts.append(("expected_total", self.expected_total))
        for i, line in enumerate(self.lines):
            amounts += [(f"lines[{i}].taxes", t.amount) for t in line.taxes]
            amounts += [(f"lines[{i}].discounts", d.amount) for d in line.discounts]
        for i, charge in enumerate(self.charges):
            amounts.append((f"charges[{i}].amount", charge.amount))
            amounts += [(f"charges[{i}].taxes", t.amount) for t in charge.taxes]
            amounts += [(f"charges[{i}].discounts", d.amount) for d in charge.discounts]
        errors = [
            {
                "field": field,
                "message": f"{amount} is not a whole number of {self.currency} minor units",
            }
            for field, amount in amounts
            if not is_exact(amount, self.currency)
        ]
        total, currency = self.presentment_total, self.presentment_currency
        if total is not None and currency is not None and not is_exact(total, currency):
            errors.append(
                {
                    "field": "presentment_total",
                    "message": f"{total} is not a whole number of {currency} minor units",
                }
            )
        return errors

    @property
    def is_business(self) -> bool:
        """Whether a company buys (a B2B order)."""
        return bool(self.company_name)


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
    # The total before taxes and the taxes, as the ERP computed them.
    untaxed: Money | None = None
    tax: Money | None = None
    # Shipping, duties, tips, fees and unallocated discounts as the ERP holds them.
    charges: list[OrderCharge] = []
    # What the ERP carries to equal the channel's total where it could not express the
    # difference (tax rounding, unit prices finer than it keeps): zero or absent when none.
    adjustment: Money | None = None


class ShipmentLine(msgspec.Struct, frozen=True, kw_only=True):
    """What of one order line a shipment carries."""

    sku: str
    quantity: Decimal
    # The ERP's id of the order line shipped, when the shipment came from an order.
    order_line_id: str | None = None


class ShipmentPackage(msgspec.Struct, frozen=True, kw_only=True):
    """A parcel of a shipment: the carrier's tracking number for it and where to follow it."""

    id: str
    number: str | None = None
    tracking_number: str | None = None
    # The ERP's own tracking link, else the carrier's public tracking page for the number.
    tracking_url: str | None = None
    # What the parcel holds (SKU and quantity), when the warehouse recorded it.
    lines: list[ShipmentLine] = []


class Shipment(msgspec.Struct, frozen=True, kw_only=True):
    """Goods leaving for a customer (or, ``is_return``, coming back), as the ERP holds them.

    ``state`` is the ERP's (Tryton: draft, waiting, assigned, picked, packed, shipped, done,
    cancelled); the goods have left in ``shipped`` and ``done``. ``tracking_number`` and
    ``tracking_url`` repeat the first package's (or the shipment's own reference when it has
    no packages); ``packages`` has every one.
    """

    id: str
    number: str | None
    state: str
    lines: list[ShipmentLine] = []
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: dt.datetime | None = None
    is_return: bool = False
    # The carrier's service the shipment was booked with (e.g. "DHL Express").
    carrier_service: str | None = None
    packages: list[ShipmentPackage] = []
    # The sales order it ships, by ERP id and by the channel's external reference.
    order_id: str | None = None
    external_reference: str | None = None
    # The warehouse (code) the goods leave from.
    warehouse: str | None = None
    # The day the goods left, as the ERP records it.
    effective_date: dt.date | None = None
    created_at: dt.datetime | None = None
    # The last change to the shipment or its packages (the change feed's order).
    updated_at: dt.datetime | None = None
    # The shipment's own external reference in the ERP: the caller's reference of a shipment
    # recorded from elsewhere (e.g. a Shopify fulfillment), so a follower can tell it apart.
    reference: str | None = None


class ShipmentRecordLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Units of one SKU that left, in a shipment to record (whole units, as channels count)."""

    sku: Sku
    quantity: Quantity


class ShipmentParcel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A parcel of a shipment that left from elsewhere: the carrier's tracking number and,
    when known, what it holds (parcels without ``lines`` share what no parcel names).

    No tracking link: an ERP derives it from the carrier and the number (Tryton computes it
    and can't store one given)."""

    tracking_number: Annotated[
        str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
    ]
    lines: Annotated[list[ShipmentRecordLine], msgspec.Meta(max_length=250)] = []


class ShipmentRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A customer shipment of a sales order that already left from elsewhere (e.g. a
    third-party warehouse fulfilling in Shopify), to be recorded in the ERP exactly once.

    ``reference`` is the caller's unique reference of the shipment (e.g.
    ``shopify:demo-eu.myshopify.com:fulfillment:5400000000123``): the ERP keeps it on the
    shipment, and recording it again answers that shipment. ``lines`` say what left, by SKU.
    """

    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
    lines: Annotated[list[ShipmentRecordLine], msgspec.Meta(min_length=1, max_length=250)]
    # The carrier's name as the ERP knows it (e.g. "DHL"); absent, the shipment keeps its own.
    carrier: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
        | None
    ) = None
    packages: Annotated[list[ShipmentParcel], msgspec.Meta(max_length=50)] = []


class ShipmentChanges(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the shipment change feed, oldest change first.

    ``next_cursor`` fetches the next page; it is absent on the last one.
    """

    items: list[Shipment]
    next_cursor: str | None = None


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
