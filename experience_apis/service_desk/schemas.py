"""Shapes of the service-desk API v1 (what an agent sees) and of what it reads from the orders
process API (only the fields used; unknown fields are ignored so the process API may grow)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

SectionStatus = Literal["ok", "unavailable"]
OrderHeadline = Literal[
    "needs_attention", "cancelled", "refunded", "returned", "shipped", "processing", "received"
]

# -- what the agent sees ----------------------------------------------------------------------


class Amount(msgspec.Struct, frozen=True, kw_only=True):
    amount: str
    currency: str


class OrderLineView(msgspec.Struct, frozen=True, kw_only=True):
    sku: str | None = None
    title: str
    quantity: int


class CustomerView(msgspec.Struct, frozen=True, kw_only=True):
    """The order as the customer saw it in the shop."""

    name: str
    placed_at: str
    email: str | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    cancelled_at: str | None = None
    total: Amount | None = None
    lines: list[OrderLineView] = []


class ErpView(msgspec.Struct, frozen=True, kw_only=True):
    instance: str | None
    id: str
    number: str | None
    status: str
    shipped: bool = False


class PipelineView(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    received_at: dt.datetime
    updated_at: dt.datetime
    correlation_id: str | None = None


class TrackingView(msgspec.Struct, frozen=True, kw_only=True):
    """One parcel's tracking number and link (https: the carrier's own, or its public page)."""

    number: str | None = None
    url: str | None = None


class ShipmentView(msgspec.Struct, frozen=True, kw_only=True):
    """A parcel: an ERP shipment, or a Shopify fulfillment (``source``) with its tracking.

    ``tracking_number`` and ``tracking_url`` are the first parcel's; ``tracking`` lists every
    parcel. ``awaiting_shopify``: the ERP shipped it, and Shopify has no fulfillment of it yet
    (``state`` ``failed`` when it can't be sent: the order's exceptions say why).
    """

    source: Literal["erp", "shopify"] = "erp"
    number: str
    state: str
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: dt.datetime | None = None
    tracking: list[TrackingView] = []
    awaiting_shopify: bool = False


class InvoiceView(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    state: str
    total: Amount
    date: dt.date | None = None


class CreditNoteView(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    state: str
    total: Amount
    date: dt.date | None = None
    credited_invoice: str | None = None


class RefundView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    created_at: str | None = None
    amount: Amount | None = None
    note: str | None = None


class ExceptionView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    error: str
    since: dt.datetime
    replays: int = 0


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    at: dt.datetime
    source: str
    title: str
    detail: str | None = None


class SectionState(msgspec.Struct, frozen=True, kw_only=True):
    """Whether one part of the context could be read; ``reason`` says why not."""

    name: str
    status: SectionStatus
    reason: str | None = None


class AgentOrderContext(msgspec.Struct, kw_only=True):
    """One order as an agent needs it; ``age_seconds`` is how old this answer is."""

    shop: str
    order_id: str
    headline: OrderHeadline
    complete: bool
    order: CustomerView | None
    erp: ErpView | None
    pipeline: PipelineView | None
    shipments: list[ShipmentView]
    returns: list[ShipmentView]
    invoices: list[InvoiceView]
    credit_notes: list[CreditNoteView]
    refunds: list[RefundView]
    exceptions: list[ExceptionView]
    timeline: list[TimelineEntry]
    sections: list[SectionState]
    age_seconds: float = 0.0


class AgentOrderSummary(msgspec.Struct, frozen=True, kw_only=True):
    shop: str
    order_id: str
    placed_at: dt.datetime
    total: Amount
    state: str | None = None
    erp_instance: str | None = None
    erp_number: str | None = None
    needs_attention: bool = False


class AgentOrderList(msgspec.Struct, kw_only=True):
    """A customer's orders in the caller's shops, newest first."""

    email: str
    items: list[AgentOrderSummary]
    total: int
    offset: int
    limit: int
    next_offset: int | None = None
    age_seconds: float = 0.0


# -- what the orders process API answers (read side only) -----------------------------------


class UpMoney(msgspec.Struct, kw_only=True):
    amount: str
    currency: str


class UpLine(msgspec.Struct, kw_only=True):
    sku: str | None = None
    title: str = ""
    quantity: int = 0
    current_quantity: int | None = None


class UpTracking(msgspec.Struct, kw_only=True):
    number: str | None = None
    url: str | None = None
    company: str | None = None


class UpFulfillment(msgspec.Struct, kw_only=True):
    id: int
    name: str | None = None
    status: str | None = None
    created_at: str | None = None
    tracking: list[UpTracking] = []


class UpShopifyOrder(msgspec.Struct, kw_only=True):
    id: int
    name: str
    email: str | None = None
    created_at: str
    cancelled_at: str | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    total: UpMoney | None = None
    lines: list[UpLine] = []
    fulfillments: list[UpFulfillment] = []


class UpRefund(msgspec.Struct, kw_only=True):
    id: int
    created_at: str | None = None
    note: str | None = None
    total_refunded: UpMoney | None = None


class UpStep(msgspec.Struct, kw_only=True):
    step: str
    at: float
    detail: str | None = None


class UpRecordedTracking(msgspec.Struct, kw_only=True):
    number: str | None = None
    url: str | None = None


class UpRecordedFulfillment(msgspec.Struct, kw_only=True):
    """A fulfillment the orders process keeps for the order: an ERP shipment or a fulfillment
    made in Shopify."""

    source: str
    state: str
    fulfillment_id: int | None = None
    name: str | None = None
    shipment_id: str | None = None
    shipment_number: str | None = None
    carrier: str | None = None
    tracking: list[UpRecordedTracking] = []
    shipped_at: float | None = None


class UpPipeline(msgspec.Struct, kw_only=True):
    state: str
    erp_instance: str | None = None
    erp_order_id: str | None = None
    erp_order_number: str | None = None
    correlation_id: str | None = None
    received_at: float
    updated_at: float
    fulfillments: list[UpRecordedFulfillment] = []


class UpSalesOrder(msgspec.Struct, kw_only=True):
    id: str
    number: str | None = None
    status: str
    shipped: bool = False


class UpShipment(msgspec.Struct, kw_only=True):
    id: str
    number: str | None = None
    state: str
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: dt.datetime | None = None
    is_return: bool = False


class UpErpMoney(msgspec.Struct, kw_only=True):
    amount: str
    currency: str


class UpInvoice(msgspec.Struct, kw_only=True):
    id: str
    number: str | None = None
    state: str
    total: UpErpMoney
    invoice_date: dt.date | None = None


class UpCreditNote(msgspec.Struct, kw_only=True):
    id: str
    number: str | None = None
    state: str
    total: UpErpMoney
    invoice_date: dt.date | None = None
    credited_invoice: str | None = None


class UpException(msgspec.Struct, kw_only=True):
    id: str
    state: str
    kind: str
    error: str
    created_at: float
    replays: int = 0


class UpSection(msgspec.Struct, kw_only=True):
    status: SectionStatus = "ok"
    reason: str | None = None


class UpPipelineSection(UpSection, kw_only=True):
    pipeline: UpPipeline | None = None


class UpExceptions(UpSection, kw_only=True):
    items: list[UpException] = []


class UpErpOrder(UpSection, kw_only=True):
    instance: str | None = None
    order: UpSalesOrder | None = None


class UpShipments(UpSection, kw_only=True):
    items: list[UpShipment] = []


class UpInvoices(UpSection, kw_only=True):
    items: list[UpInvoice] = []


class UpCreditNotes(UpSection, kw_only=True):
    items: list[UpCreditNote] = []


class UpShopifyOrderSection(UpSection, kw_only=True):
    order: UpShopifyOrder | None = None


class UpRefunds(UpSection, kw_only=True):
    items: list[UpRefund] = []


class UpTimelineEvent(msgspec.Struct, kw_only=True):
    at: dt.datetime
    source: str
    title: str
    detail: str | None = None


class UpOrderContext(msgspec.Struct, kw_only=True):
    shop: str
    order_id: str
    complete: bool
    pipeline: UpPipelineSection
    exceptions: UpExceptions
    erp_order: UpErpOrder
    shipments: UpShipments
    invoices: UpInvoices
    credit_notes: UpCreditNotes
    shopify_order: UpShopifyOrderSection
    refunds: UpRefunds
    timeline: list[UpTimelineEvent] = []


class UpCustomerOrder(msgspec.Struct, kw_only=True):
    shop: str
    order_id: str
    placed_at: dt.datetime
    currency: str
    total: str
    state: str | None = None
    erp_instance: str | None = None
    erp_order_number: str | None = None
    open_exception: bool = False


class UpCustomerOrderPage(msgspec.Struct, kw_only=True):
    email: str
    items: list[UpCustomerOrder]
    total: int
    offset: int
    limit: int
    next_offset: int | None = None
