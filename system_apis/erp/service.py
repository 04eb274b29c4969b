"""The ERP system API's logic, free of HTTP: posting sales orders exactly once.

``post_sales_order`` holds a cross-replica lock on the order's external reference, looks the
order up in the ERP and creates it only when it is not there. Together with the
``Idempotency-Key`` claim in the route this gives one sales order per external reference,
whatever the caller retries, and even if a replica crashed between the ERP's create and the
idempotency record (the lookup then finds the order the crashed replica made).

An order the lookup finds unconfirmed (a draft or quotation left by a crash or timeout between
the ERP's create and confirm) is not an answer: posting resumes it with the draft being posted,
so that its total is checked against the draft's ``expected_total`` as on creation, and
confirms that same order rather than creating another.

Changes to one order (amend, cancel, return what shipped) run one at a time across replicas,
under a lock on the order's id: each compares what the ERP holds with what is asked before it
writes, so a repeat finds the work done. A line an amendment removed stays in the ERP with
quantity 0; answers leave it out (an order line has a quantity of at least 1).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from decimal import Decimal

import msgspec

from shared.idempotency import IdempotencyStore
from shared.models import (
    CreditNote,
    Customer,
    Invoice,
    OrderLine,
    Product,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    ShipmentChanges,
    ShipmentRecord,
    StockLevel,
)
from shared.models import OrderStatus as SalesOrderStatus
from shared.problems import UpstreamTimeout, UpstreamUnavailable, ValidationFailed
from system_apis.erp.port import Amendment, ErpPort, ErpRejected, ShippedReturn

#: Statuses of an order that exists in the ERP but is not posted: created, never confirmed.
# How long a timed-out post keeps its reference locked: longer than the ERP takes to finish
# (or abandon) a create it already received.
POST_LOCK_SECONDS = 60.0
UNCONFIRMED = frozenset({SalesOrderStatus.DRAFT, SalesOrderStatus.QUOTED})


class PostedOrder(msgspec.Struct, frozen=True):
    order: SalesOrder
    created: bool


class RecordedShipment(msgspec.Struct, frozen=True):
    shipment: Shipment
    # False when a shipment of the order carried the reference already.
    created: bool


def without_removed_lines(order: SalesOrder) -> SalesOrder:
    """The order without the lines an amendment took to quantity 0."""
    if all(line.quantity > 0 for line in order.lines):
        return order
    return msgspec.structs.replace(order, lines=[ln for ln in order.lines if ln.quantity > 0])


class ErpService:
    def __init__(self, port: ErpPort, store: IdempotencyStore, instance: str) -> None:
        self.port = port
        self.store = store
        self.instance = instance

    async def post_sales_order(self, draft: SalesOrderDraft) -> PostedOrder:
        """Create the order unless one with the same external reference exists already.

        An unconfirmed one is completed with ``draft``: its total checked against the
        draft's expected total, then confirmed (``created`` is then true: this call
        confirmed it).
        """
        inexact = draft.inexact_amounts()
        if inexact:
            raise ErpRejected(
                "; ".join(f"{e['field']}: {e['message']}" for e in inexact), errors=inexact
            )
        # A create that timed out may still commit in the ERP (it goes on without us): the
        # reference stays locked until the lock expires, so no retry creates it a second time.
        async with self.store.exclusive(
            f"{self.instance}:ref:{draft.external_reference}",
            ttl=POST_LOCK_SECONDS,
            keep_on=(UpstreamTimeout, UpstreamUnavailable),
        ):
            existing = await self.port.find_sales_order(draft.external_reference)
            if existing is None:
                return PostedOrder(await self.port.create_sales_order(draft), created=True)
            if existing.status in UNCONFIRMED:
                confirmed = await self.port.confirm_sales_order(existing.id, draft)
                return PostedOrder(without_removed_lines(confirmed), created=True)
            return PostedOrder(without_removed_lines(existing), created=False)

    async def list_products(
        self, offset: int, limit: int, updated_since: dt.datetime | None
    ) -> tuple[list[Product], bool]:
        return await self.port.list_products(
            offset=offset, limit=limit, updated_since=updated_since
        )

    async def product_by_sku(self, sku: str) -> Product:
        return await self.port.get_variant_product(sku)

    async def stock(self, skus: list[str], warehouse: str | None) -> list[StockLevel]:
        return await self.port.stock_levels(skus, warehouse)

    async def customers(self, email: str) -> list[Customer]:
        return await self.port.find_customers(email)

    async def order(self, order_id: str) -> SalesOrder:
        return without_removed_lines(await self.port.get_sales_order(order_id))

    async def order_by_reference(self, reference: str) -> SalesOrder | None:
        found = await self.port.find_sales_order(reference)
        return None if found is None else without_removed_lines(found)

    async def cancel(self, order_id: str) -> SalesOrder:
        async with self.store.exclusive(self._order_lock(order_id)):
            return without_removed_lines(await self.port.cancel_sales_order(order_id))

    async def amend(
        self,
        order_id: str,
        lines: list[OrderLine],
        note: str | None,
        *,
        taxes_included: bool = False,
        expected_total: Decimal | None = None,
    ) -> Amendment:
        """Bring the order's product lines to ``lines`` (and its total to ``expected_total``
        when given); a no-op when it has them already."""
        async with self.store.exclusive(self._order_lock(order_id)):
            amendment = await self.port.amend_sales_order(
                order_id,
                lines,
                note,
                taxes_included=taxes_included,
                expected_total=expected_total,
            )
        return msgspec.structs.replace(amendment, order=without_removed_lines(amendment.order))

    async def return_shipped(self, order_id: str) -> ShippedReturn:
        """Cut a cancelled order to what shipped and return that, once whatever is retried."""
        async with self.store.exclusive(self._order_lock(order_id)):
            made = await self.port.return_shipped(order_id)
        return msgspec.structs.replace(made, order=without_removed_lines(made.order))

    async def record_shipment(self, order_id: str, request: ShipmentRecord) -> RecordedShipment:
        """Record in the ERP a shipment of the order that left from elsewhere, once per
        ``request.reference`` whatever is retried: under the order's lock, a shipment of the
        order carrying the reference is answered (the adapter finishes it if an interrupted
        call left it open); otherwise the adapter ships it. A recording that timed out may
        still go on in the ERP, so the order stays locked until the lock expires."""
        async with self.store.exclusive(
            self._order_lock(order_id),
            ttl=POST_LOCK_SECONDS,
            keep_on=(UpstreamTimeout, UpstreamUnavailable),
        ):
            known = await self.port.shipments(order_id)
            found = any(s.reference == request.reference and not s.is_return for s in known)
            shipment = await self.port.record_shipment(order_id, request)
        return RecordedShipment(shipment, created=not found)

    def _order_lock(self, order_id: str) -> str:
        return f"{self.instance}:order:{order_id}"

    async def shipments(self, order_id: str) -> list[Shipment]:
        await self.port.get_sales_order(order_id)
        return await self.port.shipments(order_id)

    async def shipment_changes(
        self, since: dt.datetime | None, cursor: str | None, limit: int
    ) -> ShipmentChanges:
        """A page of shipments changed since ``since`` (from the first one when None), or
        after ``cursor`` (a page's ``next_cursor``, which then stands in for ``since``)."""
        after_id: str | None = None
        if cursor is not None:
            position = decode_feed_cursor(cursor)
            since, after_id = position.updated_at, position.shipment_id
        if since is None:
            since = FEED_START
        items, more = await self.port.shipment_changes(since, after_id, limit)
        last = items[-1] if items else None
        next_cursor = None
        if more and last is not None and last.updated_at is not None:
            next_cursor = encode_feed_cursor(FeedPosition(last.updated_at, last.id))
        return ShipmentChanges(items=items, next_cursor=next_cursor)

    async def invoices(self, order_id: str) -> list[Invoice]:
        await self.port.get_sales_order(order_id)
        return await self.port.invoices(order_id)

    async def credit_notes(self, order_id: str) -> list[CreditNote]:
        await self.port.get_sales_order(order_id)
        return await self.port.credit_notes(order_id)


#: Where a change feed read without ``since`` starts: before any ERP record.
FEED_START = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class FeedPosition(msgspec.Struct, frozen=True, array_like=True):
    """Where a change feed page ended: the last item's change time and id."""

    updated_at: dt.datetime
    shipment_id: str


def encode_feed_cursor(position: FeedPosition) -> str:
    """An opaque cursor for ``position`` (URL-safe)."""
    return base64.urlsafe_b64encode(msgspec.json.encode(position)).decode().rstrip("=")


def decode_feed_cursor(cursor: str) -> FeedPosition:
    """The position a cursor encodes; ValidationFailed naming ``query.cursor`` if it is not
    one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = msgspec.json.decode(raw, type=FeedPosition)
        at = position.updated_at
        at = at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC)
    except (binascii.Error, ValueError, OverflowError, msgspec.DecodeError):
        raise ValidationFailed(
            "cursor is not one this API gave",
            errors=[{"field": "query.cursor", "message": "not a cursor from next_cursor"}],
        ) from None
    return FeedPosition(at, position.shipment_id)
