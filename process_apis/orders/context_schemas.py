"""The order context's response shapes: one order's sections and timeline, a customer's orders.

A section whose upstream failed comes back ``unavailable`` with the reason; the others are served.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from process_apis.orders.schemas import OrderStatus
from shared.models import CreditNote, Invoice, Money, OrderLine, Shipment

SectionStatus = Literal["ok", "unavailable"]


class Section(msgspec.Struct, kw_only=True):
    """What every section says about itself: ``unavailable`` carries the reason."""

    status: SectionStatus = "ok"
    reason: str | None = None
    source: str


class PipelineSection(Section, kw_only=True):
    status_record: OrderStatus | None = msgspec.field(default=None, name="pipeline")


class ExceptionSummary(msgspec.Struct, kw_only=True):
    """An exception of this order, without its payload snapshot."""

    id: str
    state: str
    kind: str
    error: str
    topic: str
    correlation_id: str
    created_at: float
    updated_at: float
    replays: int = 0


class ExceptionsSection(Section, kw_only=True):
    items: list[ExceptionSummary] = []


class SalesOrder(msgspec.Struct, kw_only=True):
    """The ERP's sales order (``shared.models.SalesOrder`` with its status as plain text, so
    this contract doesn't take a second schema named ``OrderStatus``)."""

    id: str
    number: str | None
    external_reference: str
    status: str
    currency: str
    customer_email: str | None = None
    lines: list[OrderLine] = []
    total: Money
    created_at: dt.datetime | None = None
    shipped: bool = False


class ErpOrderSection(Section, kw_only=True):
    instance: str | None = None
    order: SalesOrder | None = None


class ShipmentsSection(Section, kw_only=True):
    items: list[Shipment] = []


class InvoicesSection(Section, kw_only=True):
    items: list[Invoice] = []


class CreditNotesSection(Section, kw_only=True):
    items: list[CreditNote] = []


class ShopifyMoney(msgspec.Struct, kw_only=True):
    amount: str
    currency: str


class ShopifyOrderLine(msgspec.Struct, kw_only=True):
    sku: str | None = None
    title: str = ""
    quantity: int = 0
    current_quantity: int | None = None


class ShopifyTracking(msgspec.Struct, kw_only=True):
    number: str | None = None
    url: str | None = None
    company: str | None = None


class ShopifyFulfillmentView(msgspec.Struct, kw_only=True):
    """A fulfillment Shopify holds for the order (where ERP shipments' tracking ends up)."""

    id: int
    name: str | None = None
    status: str | None = None
    created_at: str | None = None
    tracking: list[ShopifyTracking] = []


class ShopifyOrderView(msgspec.Struct, kw_only=True):
    """The Shopify order as the customer saw it (read from the Shopify system API)."""

    id: int
    name: str
    email: str | None = None
    tags: list[str] = []
    created_at: str
    updated_at: str | None = None
    cancelled_at: str | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    currency: str | None = None
    total: ShopifyMoney | None = None
    lines: list[ShopifyOrderLine] = []
    fulfillments: list[ShopifyFulfillmentView] = []


class ShopifyRefund(msgspec.Struct, kw_only=True):
    id: int
    created_at: str | None = None
    note: str | None = None
    total_refunded: ShopifyMoney | None = None


class ShopifyOrderSection(Section, kw_only=True):
    order: ShopifyOrderView | None = None


class RefundsSection(Section, kw_only=True):
    items: list[ShopifyRefund] = []


class TimelineEvent(msgspec.Struct, kw_only=True):
    at: dt.datetime
    source: str
    kind: str
    title: str
    detail: str | None = None


class OrderContext(msgspec.Struct, kw_only=True):
    """Everything Strata's systems know of one order; ``complete`` is false when a section is
    unavailable."""

    shop: str
    order_id: str
    external_reference: str
    complete: bool
    generated_at: dt.datetime
    pipeline: PipelineSection
    exceptions: ExceptionsSection
    erp_order: ErpOrderSection
    shipments: ShipmentsSection
    invoices: InvoicesSection
    credit_notes: CreditNotesSection
    shopify_order: ShopifyOrderSection
    refunds: RefundsSection
    timeline: list[TimelineEvent]


class CustomerOrder(msgspec.Struct, kw_only=True):
    """One of a customer's orders, with where it is in the pipeline."""

    shop: str
    order_id: str
    placed_at: dt.datetime
    currency: str
    total: str
    external_reference: str
    state: str | None = None
    erp_instance: str | None = None
    erp_order_id: str | None = None
    erp_order_number: str | None = None
    open_exception: bool = False


class CustomerOrderPage(msgspec.Struct, kw_only=True):
    email: str
    items: list[CustomerOrder]
    total: int
    offset: int
    limit: int
    next_offset: int | None = None
