"""An order's timeline: every dated event of every context section, merged by time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from process_apis.orders.context_schemas import (
    ErpOrderSection,
    ExceptionSummary,
    ShopifyOrderView,
    ShopifyRefund,
    TimelineEvent,
)
from process_apis.orders.schemas import OrderStatus
from shared.models import CreditNote, Invoice, Shipment


def _instant(value: str | dt.datetime | dt.date | float | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, float | int):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def timeline(
    status: OrderStatus | None,
    exceptions: Sequence[ExceptionSummary],
    erp_order: ErpOrderSection,
    shipments: Sequence[Shipment],
    invoices: Sequence[Invoice],
    credit_notes: Sequence[CreditNote],
    shopify_order: ShopifyOrderView | None,
    refunds: Sequence[ShopifyRefund],
) -> list[TimelineEvent]:
    """Every dated event of every section, oldest first (undated events are left out)."""
    events: list[tuple[dt.datetime | None, str, str, str, str | None]] = []
    if shopify_order is not None:
        events.append(
            (_instant(shopify_order.created_at), "shopify", "placed",
             f"Order {shopify_order.name} placed", None)
        )  # fmt: skip
        for fulfillment in shopify_order.fulfillments:
            tracking = (
                " ".join(
                    t
                    for t in (fulfillment.tracking[0].company, fulfillment.tracking[0].number)
                    if t
                )
                if fulfillment.tracking
                else None
            )
            events.append(
                (_instant(fulfillment.created_at), "shopify", "fulfillment",
                 f"Fulfilled {fulfillment.name or fulfillment.id}", tracking)
            )  # fmt: skip
        if shopify_order.cancelled_at:
            events.append(
                (_instant(shopify_order.cancelled_at), "shopify", "cancelled",
                 f"Order {shopify_order.name} cancelled", None)
            )  # fmt: skip
    if status is not None:
        for step in status.steps:
            events.append((_instant(step.at), "pipeline", "step", step.step, step.detail))
    for ex in exceptions:
        events.append((_instant(ex.created_at), "pipeline", "exception", ex.kind, ex.error))
    order = erp_order.order
    if order is not None:
        events.append(
            (_instant(order.created_at), erp_order.source, "erp-order",
             f"ERP order {order.number or order.id} created", order.status)
        )  # fmt: skip
    for shipment in shipments:
        label = "Return" if shipment.is_return else "Shipment"
        tracking = " ".join(t for t in (shipment.carrier, shipment.tracking_number) if t)
        events.append(
            (_instant(shipment.shipped_at), erp_order.source,
             "return" if shipment.is_return else "shipment",
             f"{label} {shipment.number or shipment.id} {shipment.state}", tracking or None)
        )  # fmt: skip
    for invoice in invoices:
        events.append(
            (_instant(invoice.invoice_date), erp_order.source, "invoice",
             f"Invoice {invoice.number or invoice.id}",
             f"{invoice.total.amount} {invoice.total.currency}")
        )  # fmt: skip
    for note in credit_notes:
        events.append(
            (_instant(note.invoice_date), erp_order.source, "credit-note",
             f"Credit note {note.number or note.id}", f"{note.total.amount} {note.total.currency}")
        )  # fmt: skip
    for refund in refunds:
        money = refund.total_refunded
        events.append(
            (_instant(refund.created_at), "shopify", "refund", f"Refund {refund.id}",
             f"{money.amount} {money.currency}" if money else refund.note)
        )  # fmt: skip
    dated = [
        TimelineEvent(at=at, source=source, kind=kind, title=title, detail=detail)
        for at, source, kind, title, detail in events
        if at is not None
    ]
    dated.sort(key=lambda e: e.at)
    return dated
