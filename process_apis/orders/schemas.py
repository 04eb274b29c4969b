"""Request and response shapes of the orders process API v1."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from process_apis.orders.fulfillment.records import (
    FulfillmentRecord,
    FulfillmentSource,
    FulfillmentState,
)
from shared.models import SalesOrderDraft

#: Shopify's word for how much of an order has shipped (its REST ``fulfillment_status``, with
#: ``null`` read as ``unfulfilled`` and ``partial`` as ``partially_fulfilled``).
OrderFulfillmentStatus = Literal["unfulfilled", "partially_fulfilled", "fulfilled"]


class PipelineStep(msgspec.Struct, frozen=True, kw_only=True):
    step: str
    at: float
    detail: str | None = None


class OrderStatus(msgspec.Struct, kw_only=True):
    """Where an order is in the pipeline, with every step and its timestamp (epoch seconds)."""

    shop: str
    order_id: str
    state: str
    erp_instance: str | None = None
    erp_order_id: str | None = None
    erp_order_number: str | None = None
    correlation_id: str | None = None
    exception_id: str | None = None
    received_at: float
    updated_at: float
    steps: list[PipelineStep]
    #: How much of the order Shopify says has shipped; null until Strata has heard of any
    #: fulfillment of it.
    fulfillment_status: OrderFulfillmentStatus | None = None
    #: Every fulfillment, oldest first: ERP shipments (sent to Shopify by Strata, or still
    #: pending) and fulfillments made in Shopify (a warehouse fulfilling there).
    fulfillments: list[OrderFulfillment] = []


class FulfillmentTrackingView(msgspec.Struct, frozen=True, kw_only=True):
    """One parcel's tracking number and the carrier's link for it (as given: check the scheme
    before showing it to anyone)."""

    number: str | None = None
    url: str | None = None


class FulfillmentLineView(msgspec.Struct, frozen=True, kw_only=True):
    sku: str | None = None
    quantity: int
    line_item_id: int | None = None


class OrderFulfillment(msgspec.Struct, frozen=True, kw_only=True):
    """One fulfillment of an order (epoch seconds for instants).

    ``source`` says who shipped: ``erp`` (an ERP shipment, which Strata sends to Shopify) or
    ``shopify`` (made in Shopify, e.g. by a third-party warehouse). ``state``: ``pending`` (the
    ERP shipped; Shopify has no fulfillment of it yet), ``fulfilled``, ``cancelled``,
    ``failed`` (it can't be sent: the exception says why). ``display_status`` is Shopify's
    (``IN_TRANSIT``, ``DELIVERED``, ...).
    """

    source: FulfillmentSource
    state: FulfillmentState
    fulfillment_id: int | None = None
    name: str | None = None
    display_status: str | None = None
    erp_instance: str | None = None
    shipment_id: str | None = None
    shipment_number: str | None = None
    carrier: str | None = None
    tracking: list[FulfillmentTrackingView] = []
    lines: list[FulfillmentLineView] = []
    shipped_at: float | None = None
    fulfilled_at: float | None = None
    delivered_at: float | None = None
    error: str | None = None
    exception_id: str | None = None

    @classmethod
    def of(cls, record: FulfillmentRecord) -> OrderFulfillment:
        """The view of a stored record (its key and bookkeeping left out)."""
        return cls(
            source=record.source,
            state=record.state,
            fulfillment_id=record.fulfillment_id,
            name=record.name,
            display_status=record.display_status,
            erp_instance=record.erp_instance,
            shipment_id=record.shipment_id,
            shipment_number=record.shipment_number,
            carrier=record.carrier,
            tracking=[FulfillmentTrackingView(number=t.number, url=t.url) for t in record.tracking],
            lines=[
                FulfillmentLineView(sku=x.sku, quantity=x.quantity, line_item_id=x.line_item_id)
                for x in record.lines
            ],
            shipped_at=record.shipped_at,
            fulfilled_at=record.fulfilled_at,
            delivered_at=record.delivered_at,
            error=record.error,
            exception_id=record.exception_id,
        )


ExceptionState = Literal["open", "replayed", "resolved"]


class BusinessImpact(msgspec.Struct, kw_only=True):
    order_value: str | None = None
    currency: str | None = None
    customer_email: str | None = None
    line_count: int | None = None


class RetryRecord(msgspec.Struct, kw_only=True):
    at: float
    error: str
    kind: str


class OrderException(msgspec.Struct, kw_only=True):
    """An order the pipeline could not finish, with what is needed to fix and replay it."""

    id: str
    state: ExceptionState
    kind: str
    error: str
    shop: str
    order_id: str
    topic: str
    correlation_id: str
    created_at: float
    updated_at: float
    payload: dict[str, str]
    retry_history: list[RetryRecord]
    impact: BusinessImpact
    errors: list[dict[str, Any]] = []
    replays: int = 0


class ExceptionPage(msgspec.Struct, kw_only=True):
    items: list[OrderException]
    total: int
    offset: int
    limit: int


class ReplayRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Optionally replace the payload's body (the Shopify order JSON) before replaying."""

    body: dict[str, Any] | None = None


class ReplayResult(msgspec.Struct, kw_only=True):
    exception_id: str
    state: ExceptionState
    entry_id: str


class BulkReplayRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ids: list[str] | None = None
    kind: str | None = None
    shop: str | None = None
    limit: int = 100


class BulkReplayResult(msgspec.Struct, kw_only=True):
    replayed: list[ReplayResult]
    skipped: list[str]


class ChannelOrder(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A canonical order from another channel (POS, marketplace)."""

    channel: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9.\-_]+$")]
    order_id: Annotated[
        str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9:#.\-_]+$")
    ]
    order: SalesOrderDraft


class Accepted(msgspec.Struct, kw_only=True):
    shop: str
    order_id: str
    status_url: str
    entry_id: str
