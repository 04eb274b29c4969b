"""The ERP port: what Strata needs from any ERP, in canonical models only.

One adapter per ERP product implements it (``adapters/tryton/`` first). Adapters turn
vendor errors into Strata's errors:

- unknown SKU, customer or data the ERP rejects: :class:`shared.problems.ValidationFailed`
  (or a subclass) with ``errors=[{"field": ..., "message": ...}]`` naming the field;
- the record does not exist: :class:`shared.problems.NotFound`;
- the order has shipped and can't be cancelled: :class:`OrderAlreadyShipped` (409);
- the ERP is unreachable: :class:`shared.problems.UpstreamUnavailable` (503, Retry-After);
- the ERP is too slow: :class:`shared.problems.UpstreamTimeout` (504).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from shared.models import (
    CreditNote,
    Customer,
    Invoice,
    Product,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    StockLevel,
)
from shared.problems import Conflict, NotFound, ValidationFailed


class OrderAlreadyShipped(Conflict):
    slug = "order-already-shipped"
    title = "The order has already shipped and can no longer be cancelled"


class OrderNotFound(NotFound):
    slug = "order-not-found"
    title = "No such sales order"


class UnknownSku(ValidationFailed):
    slug = "unknown-sku"
    title = "A SKU is not known to the ERP"


class ErpRejected(ValidationFailed):
    slug = "erp-rejected"
    title = "The ERP rejected the data"


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

    async def confirm_sales_order(self, order_id: str) -> SalesOrder:
        """Complete an order left ``draft`` or ``quoted`` to confirmed (the same order, the
        same id); an order past that is returned as it stands. OrderNotFound if none; a
        refusal as in :meth:`create_sales_order`."""

    async def get_sales_order(self, order_id: str) -> SalesOrder:
        """A sales order by ERP id; OrderNotFound if none."""

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        """Cancel; OrderAlreadyShipped (409) once any shipment is done."""

    async def shipments(self, order_id: str) -> list[Shipment]:
        """The order's customer shipments and return shipments."""

    async def invoices(self, order_id: str) -> list[Invoice]:
        """The order's customer invoices (not credit notes)."""

    async def credit_notes(self, order_id: str) -> list[CreditNote]:
        """Credit notes against the order's invoices."""

    async def aclose(self) -> None:
        """Release connections."""
