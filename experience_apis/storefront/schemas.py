"""Response shapes of the storefront experience API v1: what a customer may be shown."""

from __future__ import annotations

from typing import Literal

import msgspec

StockWord = Literal["in_stock", "low_stock", "out_of_stock", "unknown"]
CustomerOrderState = Literal["received", "confirmed", "shipped", "delivered", "cancelled"]
#: How much of the order is on its way: ``partially_shipped`` while some of it still waits.
CustomerFulfillment = Literal["unfulfilled", "partially_shipped", "shipped", "delivered"]


class ShelfStock(msgspec.Struct, frozen=True, kw_only=True):
    """Whether a customer can buy a SKU now.

    ``quantity`` is given only for low stock ("only 3 left"); otherwise it is null, since the
    exact figure helps no customer and tells competitors what a shop holds. ``unknown`` means
    an ERP did not answer and none of the stock that did answer is free.
    """

    sku: str
    in_stock: bool
    stock: StockWord
    quantity: int | None = None


class StorefrontAvailability(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ShelfStock]


class TrackingLink(msgspec.Struct, frozen=True, kw_only=True):
    """A parcel's page at its carrier (https only)."""

    url: str
    carrier: str | None = None
    number: str | None = None


class CustomerOrderStatus(msgspec.Struct, frozen=True, kw_only=True):
    """An order's status in words for its customer, with no ERP detail and no personal data.

    ``status`` is the order's stage (an order partly on its way reads ``shipped``);
    ``fulfillment`` says how much of it has shipped (``partially_shipped`` while some of it
    still waits), with a tracking link per parcel in ``tracking``.
    """

    order: str
    status: CustomerOrderState
    message: str
    shipped: bool
    tracking: list[TrackingLink]
    updated_at: float
    fulfillment: CustomerFulfillment | None = None
