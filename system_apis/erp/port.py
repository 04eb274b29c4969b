"""The ERP port: what Strata needs from any ERP, in canonical models only.

One adapter per ERP product implements it (``adapters/tryton/`` first). Adapters turn
vendor errors into Strata's errors:

- unknown SKU, customer or data the ERP rejects: :class:`shared.problems.ValidationFailed`
  (or a subclass) with ``errors=[{"field": ..., "message": ...}]`` naming the field;
- the record does not exist: :class:`shared.problems.NotFound`;
- the order has shipped and can't be cancelled: :class:`OrderAlreadyShipped` (409);
- the order can't be amended as asked (shipped, picking begun, cancelled, or a change the
  ERP can't express): :class:`OrderNotAmendable` (409), whose detail and ``errors`` say why;
- a return of shipped goods asked for an order that shipped nothing: :class:`NothingShipped`
  (409);
- a shipment to record that the order's open shipments do not hold (a SKU, or more units):
  :class:`NotOnOpenShipments` (422, ``errors`` naming the lines); one the ERP can't record as
  asked (only part of a shipment whose picking has begun, lines spread over several open
  shipments): :class:`ShipmentNotRecordable` (409);
- the ERP is unreachable: :class:`shared.problems.UpstreamUnavailable` (503, Retry-After);
- the ERP is too slow: :class:`shared.problems.UpstreamTimeout` (504).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Protocol

import msgspec

from shared.models import (
    CreditNote,
    Customer,
    Invoice,
    Money,
    OrderLine,
    OrderStatus,
    Product,
    ReturnLine,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    ShipmentRecord,
    StockLevel,
)
from shared.problems import Conflict, NotFound, ValidationFailed

#: What the external reference of a return sale ends with: the return that takes back what a
#: cancelled order had shipped (one per order, found by it on a retry).
CANCELLATION_SUFFIX = ":cancel"


def cancellation_reference(external_reference: str) -> str:
    """The external reference of the return sale made when ``external_reference`` is
    cancelled after shipment."""
    return external_reference + CANCELLATION_SUFFIX


class OrderAlreadyShipped(Conflict):
    slug = "order-already-shipped"
    title = "The order has already shipped and can no longer be cancelled"


class OrderNotAmendable(Conflict):
    slug = "order-not-amendable"
    title = "The sales order can't be amended as asked"


class NothingShipped(Conflict):
    slug = "nothing-shipped"
    title = "Nothing of the order has shipped: there is nothing to return"


class NotOnOpenShipments(ValidationFailed):
    slug = "not-on-open-shipments"
    title = "The order's open shipments do not hold what is to be recorded as shipped"


class ShipmentNotRecordable(Conflict):
    slug = "shipment-not-recordable"
    title = "The shipment can't be recorded against the order's open shipments as asked"


class OrderNotFound(NotFound):
    slug = "order-not-found"
    title = "No such sales order"


class UnknownSku(ValidationFailed):
    slug = "unknown-sku"
    title = "A SKU is not known to the ERP"


class ErpRejected(ValidationFailed):
    slug = "erp-rejected"
    title = "The ERP rejected the data"


class LineChange(msgspec.Struct, frozen=True, kw_only=True):
    """How the quantity of one SKU on an order changed (0 before: added; 0 after: removed)."""

    sku: str
    before: int
    after: int


class Amendment(msgspec.Struct, frozen=True, kw_only=True):
    """The order after an amendment, and what changed (nothing when it had the lines asked)."""

    order: SalesOrder
    changes: list[LineChange] = []
    # The ERP's own number of the amendment, when one was made.
    amendment_id: str | None = None


class ShippedReturn(msgspec.Struct, frozen=True, kw_only=True):
    """What the ERP holds for an order cancelled after shipment: the order cut down to what
    shipped, and one return sale taking that back (its reference ends ``:cancel``)."""

    order: SalesOrder
    return_order_id: str
    return_number: str | None
    reference: str
    status: OrderStatus
    # What comes back, in positive quantities.
    lines: list[ReturnLine]
    # What the return credits (a positive amount).
    total: Money
    # False when an earlier call made it (a retry finds it and makes no second one).
    created: bool


class ProductPage(Protocol):
    products: list[Product]
    next_offset: int | None


class ErpPort(Protocol):
    """An ERP instance, seen through canonical models."""

    async def ping(self) -> None:
        """Raise UpstreamUnavailable unless the ERP answers."""

    async def list_products(
        self, *, offset: int, limit: int, updated_since: dt.datetime | None
    ) -> tuple[list[Product], bool]:
        """A page of products (with variants and prices); the flag says whether more follow."""

    async def get_variant_product(self, sku: str) -> Product:
        """The product that holds the variant ``sku``; UnknownSku (404-like) if none."""

    async def stock_levels(self, skus: list[str], warehouse: str | None) -> list[StockLevel]:
        """Stock of each SKU in a warehouse (code), or in every warehouse when None."""

    async def find_customers(self, email: str) -> list[Customer]:
        """Customers whose email is ``email`` (case-insensitive)."""

    async def find_sales_order(self, external_reference: str) -> SalesOrder | None:
        """The sales order carrying this external reference, if any.

        Its status may be ``draft`` or ``quoted``: a posting interrupted between the ERP's
        create and confirm leaves such an order, which is not posted until
        :meth:`confirm_sales_order` completes it.
        """

    async def create_sales_order(self, draft: SalesOrderDraft) -> SalesOrder:
        """Create and confirm a sales order; the caller has checked it does not exist yet."""

    async def confirm_sales_order(self, order_id: str, draft: SalesOrderDraft) -> SalesOrder:
        """Complete an order that an interrupted posting of ``draft`` left ``draft`` or
        ``quoted`` to confirmed (the same order, the same id), its total first checked
        against ``draft.expected_total`` as :meth:`create_sales_order` checks it; an order
        past that is returned as it stands. OrderNotFound if none; a refusal as in
        :meth:`create_sales_order`."""

    async def get_sales_order(self, order_id: str) -> SalesOrder:
        """A sales order by ERP id; OrderNotFound if none."""

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        """Cancel; OrderAlreadyShipped (409) once any shipment is done."""

    async def amend_sales_order(
        self,
        order_id: str,
        lines: list[OrderLine],
        note: str | None,
        *,
        taxes_included: bool = False,
        expected_total: Decimal | None = None,
    ) -> Amendment:
        """Bring the order's product lines to ``lines`` (by SKU), while nothing has shipped.

        With ``expected_total`` (the channel's total now, in the order's currency) the lines
        changed or added are priced as :meth:`create_sales_order` prices them (``lines``'
        prices, discounts and taxes; ``taxes_included`` says whether prices contain their
        taxes) and the order's total is brought to ``expected_total``, a rounding difference
        on the one adjustment line; without it only quantities change, prices are kept.
        Amending to the lines (and total) the order has already is a no-op (no ERP
        amendment is made). Other charge lines (shipping, fees) are left alone.
        OrderNotFound if none; OrderNotAmendable (409) once picking began or goods shipped,
        when the order is cancelled or unconfirmed, when the ERP can't express the change,
        or when the amended total would differ from ``expected_total`` by more than rounding
        (``errors`` name ``expected_total``; nothing is changed); ErpRejected (422, naming
        ``expected_total``) when an amendment made leaves a total the ERP can't settle;
        UnknownSku for a SKU it does not sell.
        """

    async def return_shipped(self, order_id: str) -> ShippedReturn:
        """For an order cancelled after shipment: cut it down to what shipped (what has not
        left is cancelled) and make one return sale of that, referenced
        :func:`cancellation_reference`, quoted and confirmed. A repeat finds that return and
        makes no second one. NothingShipped (409) if nothing shipped; OrderNotFound if none.
        """

    async def shipments(self, order_id: str) -> list[Shipment]:
        """The order's customer shipments and return shipments."""

    async def record_shipment(self, order_id: str, request: ShipmentRecord) -> Shipment:
        """Record that ``request.lines`` of the order left from elsewhere (the goods are gone):
        ship exactly those units from one of the order's open customer shipments (split when
        only part of it leaves; the ERP plans the rest), with ``request.reference`` as its
        reference, the carrier and the parcels' tracking numbers, and take it to done.

        A shipment of the order that carries ``request.reference`` already is answered as
        it stands, nothing changed (a repeat records nothing twice). OrderNotFound if no
        such order; NotOnOpenShipments (422) naming the lines the open shipments do not hold;
        ShipmentNotRecordable (409) when it can't be recorded as asked; ErpRejected naming
        ``carrier`` for a carrier the ERP does not know.
        """

    async def shipment_changes(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> tuple[list[Shipment], bool]:
        """Customer shipments of sales orders that changed (they or their packages)
        since ``since``, in any state, ordered by ``updated_at`` then id, at most ``limit``;
        the flag says whether more follow. With ``after_id`` (paging on from the shipment
        last seen, whose ``updated_at`` is ``since``), only those after it."""

    async def invoices(self, order_id: str) -> list[Invoice]:
        """The order's customer invoices (not credit notes)."""

    async def credit_notes(self, order_id: str) -> list[CreditNote]:
        """Credit notes against the order's invoices."""

    async def aclose(self) -> None:
        """Release connections."""
