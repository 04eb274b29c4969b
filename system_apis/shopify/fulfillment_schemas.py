"""The v1 contract's fulfillment requests and answers: an order's fulfillments with tracking,
sending one exactly once per caller key, tracking corrections and cancellations.

Ids are Shopify's numeric ids, as elsewhere in the v1 contract.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from system_apis.shopify.schemas import HTTP_URL, TRIMMED_TEXT, ShopifyId

TrackingNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=TRIMMED_TEXT)]
TrackingUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=HTTP_URL)]
Carrier = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
#: Shopify's ``FulfillmentDisplayStatus`` (what the customer's order status page shows).
DisplayStatus = Literal[
    "ATTEMPTED_DELIVERY",
    "CANCELED",
    "CONFIRMED",
    "DELIVERED",
    "FAILURE",
    "FULFILLED",
    "IN_TRANSIT",
    "LABEL_PRINTED",
    "LABEL_PURCHASED",
    "LABEL_VOIDED",
    "MARKED_AS_FULFILLED",
    "NOT_DELIVERED",
    "OUT_FOR_DELIVERY",
    "PICKED_UP",
    "READY_FOR_PICKUP",
    "SUBMITTED",
]


class TrackingInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A shipment's tracking: the carrier (Shopify's name for it, e.g. ``DHL Express``) and
    every package's number and URL, in the same order."""

    company: Carrier | None = None
    numbers: Annotated[list[TrackingNumber], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )
    urls: Annotated[list[TrackingUrl], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class FulfillmentLineInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    fulfillment_order_line_id: ShopifyId
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class FulfillmentOrderInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    fulfillment_order_id: ShopifyId
    #: The lines to ship; absent ships everything the fulfillment order has left.
    lines: (
        Annotated[list[FulfillmentLineInput], msgspec.Meta(min_length=1, max_length=250)] | None
    ) = None


class FulfillmentSend(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One shipment to record in Shopify: lines of fulfillment orders of one location."""

    fulfillment_orders: Annotated[
        list[FulfillmentOrderInput], msgspec.Meta(min_length=1, max_length=250)
    ]
    tracking: TrackingInput | None = None
    notify_customer: bool = False


class TrackingUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The tracking a fulfillment should carry from now on (it replaces the old one)."""

    tracking: TrackingInput
    notify_customer: bool = False


class TrackingInfo(msgspec.Struct, frozen=True, kw_only=True):
    company: str | None = None
    number: str | None = None
    url: str | None = None


class FulfilledLine(msgspec.Struct, frozen=True, kw_only=True):
    line_item_id: int
    sku: str | None = None
    quantity: int


class OrderFulfillment(msgspec.Struct, frozen=True, kw_only=True):
    """A fulfillment Shopify holds for an order (made by Strata or in Shopify), with tracking."""

    id: int
    order_id: int
    name: str
    #: Shopify's ``FulfillmentStatus``: ``SUCCESS``, ``CANCELLED``, ``OPEN``, ``PENDING``, ...
    status: str
    display_status: DisplayStatus | None = None
    created_at: str | None = None
    updated_at: str | None = None
    location_id: int | None = None
    tracking: list[TrackingInfo] = msgspec.field(default_factory=list)
    lines: list[FulfilledLine] = msgspec.field(default_factory=list)


class OrderFulfillments(msgspec.Struct, frozen=True, kw_only=True):
    """An order's fulfillments, oldest first, and its fulfillment status in Shopify."""

    order_id: int
    #: Shopify's ``OrderDisplayFulfillmentStatus`` (``UNFULFILLED``, ``PARTIALLY_FULFILLED``,
    #: ``FULFILLED``, ...).
    fulfillment_status: str
    items: list[OrderFulfillment]


class FulfillmentOrderLine(msgspec.Struct, frozen=True, kw_only=True):
    """A line of a fulfillment order: the order's line item, and how much of it is left."""

    id: int
    line_item_id: int
    sku: str | None = None
    total_quantity: int
    remaining_quantity: int


class FulfillmentOrderView(msgspec.Struct, frozen=True, kw_only=True):
    """A fulfillment order: what one location is to ship of the order."""

    id: int
    #: Shopify's ``FulfillmentOrderStatus``: ``OPEN``, ``IN_PROGRESS``, ``CLOSED``, ...
    status: str
    location_id: int | None = None
    lines: list[FulfillmentOrderLine] = msgspec.field(default_factory=list)


class OrderFulfillmentOrders(msgspec.Struct, frozen=True, kw_only=True):
    """An order's fulfillment orders (the units still to ship, per assigned location)."""

    order_id: int
    fulfillment_status: str
    items: list[FulfillmentOrderView]
