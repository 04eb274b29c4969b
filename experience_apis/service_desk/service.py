"""The service desk's logic: shape the orders process's answers for an agent, and cache them.

Free of HTTP: the routes decide who may see what and pass the shops along; this module reads
through :class:`OrdersApi`, shapes, and keeps each answer for a few seconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Sequence

import msgspec

from experience_apis.service_desk.cache import AnswerCache
from experience_apis.service_desk.clients import OrdersApi
from experience_apis.service_desk.schemas import (
    AgentOrderContext,
    AgentOrderList,
    AgentOrderSummary,
    Amount,
    CreditNoteView,
    CustomerView,
    ErpView,
    ExceptionView,
    InvoiceView,
    OrderHeadline,
    OrderLineView,
    PipelineView,
    RefundView,
    SectionState,
    ShipmentView,
    TimelineEntry,
    TrackingView,
    UpCustomerOrderPage,
    UpFulfillment,
    UpOrderContext,
    UpRecordedFulfillment,
    UpShipment,
    UpTracking,
)
from experience_apis.service_desk.settings import ServiceDeskSettings
from experience_apis.service_desk.tracking import tracking_link

_ENC = msgspec.json.Encoder()
SHIPPED_STATES = frozenset({"shipped", "done", "delivered", "success", "fulfilled"})


class ServiceDesk:
    def __init__(
        self, orders: OrdersApi, cache: AnswerCache, settings: ServiceDeskSettings
    ) -> None:
        self.orders = orders
        self.cache = cache
        self.settings = settings

    async def order_context(self, shop: str, order_id: str) -> AgentOrderContext:
        """The order's context for an agent, from the cache when it is fresh."""
        key = self.cache.key("context", shop, order_id)
        cached = await self.cache.get(key)
        if cached is not None:
            context = msgspec.json.decode(cached.body, type=AgentOrderContext)
            context.age_seconds = round(cached.age, 3)
            return context
        context = agent_context(await self.orders.order_context(shop, order_id))
        ttl = self.settings.cache_ttl if context.complete else self.settings.partial_cache_ttl
        await self.cache.put(key, _ENC.encode(context), ttl)
        return context

    async def customer_orders(
        self, email: str, shops: Sequence[str] | None, offset: int, limit: int
    ) -> AgentOrderList:
        """The customer's orders in ``shops`` (every shop when None), newest first."""
        email = email.strip().lower()
        if shops is not None and not shops:
            # A tenant without shops sees nothing; no need to ask anyone.
            return AgentOrderList(email=email, items=[], total=0, offset=offset, limit=limit)
        scope = "all" if shops is None else ",".join(sorted(shops))
        key = self.cache.key("customer", _digest(email), _digest(scope), str(offset), str(limit))
        cached = await self.cache.get(key)
        if cached is not None:
            listing = msgspec.json.decode(cached.body, type=AgentOrderList)
            listing.age_seconds = round(cached.age, 3)
            return listing
        page = await self.orders.customer_orders(email, shops or (), offset, limit)
        listing = agent_order_list(page)
        await self.cache.put(key, _ENC.encode(listing), self.settings.cache_ttl)
        return listing


def _digest(text: str) -> str:
    # Cache keys carry no email address in clear.
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def agent_order_list(page: UpCustomerOrderPage) -> AgentOrderList:
    """The process layer's page, in the agent's words."""
    return AgentOrderList(
        email=page.email,
        items=[
            AgentOrderSummary(
                shop=o.shop,
                order_id=o.order_id,
                placed_at=o.placed_at,
                total=Amount(amount=o.total, currency=o.currency),
                state=o.state,
                erp_instance=o.erp_instance,
                erp_number=o.erp_order_number,
                needs_attention=o.open_exception,
            )
            for o in page.items
        ],
        total=page.total,
        offset=page.offset,
        limit=page.limit,
        next_offset=page.next_offset,
    )


def _tracking(
    carrier: str | None, parcels: list[tuple[str | None, str | None]]
) -> list[TrackingView]:
    """Every parcel's number and link (the given https link, else the carrier's page)."""
    views = [
        TrackingView(number=number, url=tracking_link(carrier, number, url))
        for number, url in parcels
    ]
    return [v for v in views if v.number or v.url]


def _shipment(s: UpShipment) -> ShipmentView:
    return ShipmentView(
        number=s.number or s.id,
        state=s.state,
        carrier=s.carrier,
        tracking_number=s.tracking_number,
        tracking_url=tracking_link(s.carrier, s.tracking_number, s.tracking_url),
        shipped_at=s.shipped_at,
        tracking=_tracking(s.carrier, [(s.tracking_number, s.tracking_url)]),
    )


def _fulfillment(f: UpFulfillment, recorded: UpRecordedFulfillment | None) -> ShipmentView:
    first = f.tracking[0] if f.tracking else UpTracking()
    # Shopify names the carrier per tracking entry; the record keeps the shipment's.
    carrier = next((t.company for t in f.tracking if t.company), None) or (
        recorded.carrier if recorded else None
    )
    shipped = None
    if f.created_at:
        with contextlib.suppress(ValueError):
            shipped = dt.datetime.fromisoformat(f.created_at.replace("Z", "+00:00"))
    return ShipmentView(
        source="shopify",
        number=f.name or str(f.id),
        state=(f.status or "fulfilled").lower(),
        carrier=carrier,
        tracking_number=first.number,
        tracking_url=tracking_link(first.company or carrier, first.number, first.url),
        shipped_at=shipped,
        tracking=[
            TrackingView(number=t.number, url=tracking_link(t.company or carrier, t.number, t.url))
            for t in f.tracking
            if t.number or t.url
        ],
    )


def _recorded(r: UpRecordedFulfillment) -> ShipmentView:
    """A fulfillment from the orders process's records: an ERP shipment Shopify has no
    fulfillment of yet, or (while Shopify is not answering) one it holds."""
    tracking = _tracking(r.carrier, [(t.number, t.url) for t in r.tracking])
    awaiting = r.fulfillment_id is None and r.state in ("pending", "failed")
    return ShipmentView(
        source="erp" if awaiting else "shopify",
        number=(r.shipment_number or r.shipment_id or "?")
        if awaiting
        else (r.name or str(r.fulfillment_id)),
        state="shipped" if r.state == "pending" else r.state,
        carrier=r.carrier,
        tracking_number=tracking[0].number if tracking else None,
        tracking_url=tracking[0].url if tracking else None,
        shipped_at=dt.datetime.fromtimestamp(r.shipped_at, dt.UTC) if r.shipped_at else None,
        tracking=tracking,
        awaiting_shopify=awaiting,
    )


def _with_fulfillments(
    erp_shipments: list[ShipmentView],
    shopify: list[UpFulfillment] | None,
    recorded: list[UpRecordedFulfillment],
) -> list[ShipmentView]:
    """The ERP's shipments, then Shopify's fulfillments, with what the orders process's
    records add: which ERP shipment Shopify has no fulfillment of yet (added when the ERP's
    list lacks it), a carrier Shopify did not name, and the fulfillments Shopify holds when
    the Shopify order could not be read."""
    shipments = list(erp_shipments)
    for r in recorded:
        if (
            r.source != "erp"
            or r.fulfillment_id is not None
            or r.state not in ("pending", "failed")
        ):
            continue
        names = {r.shipment_number, r.shipment_id} - {None}
        at = next(
            (i for i, v in enumerate(shipments) if v.source == "erp" and v.number in names), None
        )
        if at is None:
            shipments.append(_recorded(r))
        else:
            shipments[at] = msgspec.structs.replace(shipments[at], awaiting_shopify=True)
    if shopify is None:
        return shipments + [_recorded(r) for r in recorded if r.fulfillment_id is not None]
    by_id = {r.fulfillment_id: r for r in recorded if r.fulfillment_id is not None}
    return shipments + [_fulfillment(f, by_id.get(f.id)) for f in shopify]


def agent_context(up: UpOrderContext) -> AgentOrderContext:
    """The process layer's context, shaped for an agent."""
    shopify = up.shopify_order.order
    order = (
        CustomerView(
            name=shopify.name,
            placed_at=shopify.created_at,
            email=shopify.email,
            financial_status=shopify.financial_status,
            fulfillment_status=shopify.fulfillment_status,
            cancelled_at=shopify.cancelled_at,
            total=Amount(amount=shopify.total.amount, currency=shopify.total.currency)
            if shopify.total
            else None,
            lines=[
                OrderLineView(sku=line.sku, title=line.title, quantity=line.quantity)
                for line in shopify.lines
            ],
        )
        if shopify is not None
        else None
    )
    status = up.pipeline.pipeline
    sales_order = up.erp_order.order
    erp = None
    if sales_order is not None:
        erp = ErpView(
            instance=up.erp_order.instance,
            id=sales_order.id,
            number=sales_order.number,
            status=sales_order.status,
            shipped=sales_order.shipped,
        )
    elif status is not None and status.erp_order_id:
        # The ERP did not answer, but the pipeline remembers what it posted.
        erp = ErpView(
            instance=status.erp_instance,
            id=status.erp_order_id,
            number=status.erp_order_number or None,
            status="unknown",
        )
    pipeline = (
        PipelineView(
            state=status.state,
            received_at=dt.datetime.fromtimestamp(status.received_at, dt.UTC),
            updated_at=dt.datetime.fromtimestamp(status.updated_at, dt.UTC),
            correlation_id=status.correlation_id,
        )
        if status is not None
        else None
    )
    shipments = _with_fulfillments(
        [_shipment(s) for s in up.shipments.items if not s.is_return],
        shopify.fulfillments if shopify is not None else None,
        status.fulfillments if status is not None else [],
    )
    returns = [_shipment(s) for s in up.shipments.items if s.is_return]
    invoices = [
        InvoiceView(
            number=i.number or i.id,
            state=i.state,
            total=Amount(amount=i.total.amount, currency=i.total.currency),
            date=i.invoice_date,
        )
        for i in up.invoices.items
    ]
    credit_notes = [
        CreditNoteView(
            number=c.number or c.id,
            state=c.state,
            total=Amount(amount=c.total.amount, currency=c.total.currency),
            date=c.invoice_date,
            credited_invoice=c.credited_invoice,
        )
        for c in up.credit_notes.items
    ]
    refunds = [
        RefundView(
            id=r.id,
            created_at=r.created_at,
            amount=Amount(amount=r.total_refunded.amount, currency=r.total_refunded.currency)
            if r.total_refunded
            else None,
            note=r.note,
        )
        for r in up.refunds.items
    ]
    exceptions = [
        ExceptionView(
            id=e.id,
            kind=e.kind,
            error=e.error,
            since=dt.datetime.fromtimestamp(e.created_at, dt.UTC),
            replays=e.replays,
        )
        for e in up.exceptions.items
        if e.state == "open"
    ]
    named = {
        "pipeline": up.pipeline,
        "exceptions": up.exceptions,
        "erp_order": up.erp_order,
        "shipments": up.shipments,
        "invoices": up.invoices,
        "credit_notes": up.credit_notes,
        "shopify_order": up.shopify_order,
        "refunds": up.refunds,
    }
    return AgentOrderContext(
        shop=up.shop,
        order_id=up.order_id,
        headline=headline(
            open_exceptions=bool(exceptions),
            cancelled=bool(order and order.cancelled_at)
            or (erp is not None and erp.status == "cancelled"),
            refunded=bool(refunds) or bool(credit_notes),
            returned=bool(returns),
            shipped=bool(erp and erp.shipped) or any(s.state in SHIPPED_STATES for s in shipments),
            in_erp=erp is not None,
        ),
        complete=up.complete,
        order=order,
        erp=erp,
        pipeline=pipeline,
        shipments=shipments,
        returns=returns,
        invoices=invoices,
        credit_notes=credit_notes,
        refunds=refunds,
        exceptions=exceptions,
        timeline=[
            TimelineEntry(at=e.at, source=e.source, title=e.title, detail=e.detail)
            for e in up.timeline
        ],
        sections=[
            SectionState(name=name, status=section.status, reason=section.reason)
            for name, section in named.items()
        ],
    )


def headline(
    *,
    open_exceptions: bool,
    cancelled: bool,
    refunded: bool,
    returned: bool,
    shipped: bool,
    in_erp: bool,
) -> OrderHeadline:
    """One word an agent reads first; an open exception outranks everything else."""
    if open_exceptions:
        return "needs_attention"
    if cancelled:
        return "cancelled"
    if refunded:
        return "refunded"
    if returned:
        return "returned"
    if shipped:
        return "shipped"
    return "processing" if in_erp else "received"
