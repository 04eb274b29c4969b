"""The Tryton adapter of the ERP port: one object per concern behind one session.

The adapter owns the HTTP client and the JSON-RPC session and hands the session to the
catalogue, the customers, the sales orders, their amendments and the order documents; each
port operation is answered by one of them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx

from shared.models import (
    CreditNote,
    Customer,
    Invoice,
    OrderLine,
    Product,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    ShipmentRecord,
    StockLevel,
)
from system_apis.erp.adapters.tryton.amendments import SaleAmendments
from system_apis.erp.adapters.tryton.catalogue import Catalogue
from system_apis.erp.adapters.tryton.documents import OrderDocuments
from system_apis.erp.adapters.tryton.parties import Customers
from system_apis.erp.adapters.tryton.sales import SalesOrders
from system_apis.erp.adapters.tryton.shipments import CustomerShipments
from system_apis.erp.adapters.tryton.shipping import ShipmentRecorder
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.adapters.tryton_settings import TrytonSettings
from system_apis.erp.port import Amendment, ShippedReturn


class TrytonAdapter:
    """:class:`system_apis.erp.port.ErpPort` on one Tryton database over JSON-RPC."""

    def __init__(
        self, client: httpx.AsyncClient, settings: TrytonSettings, *, close_client: bool = True
    ) -> None:
        """``close_client=False`` leaves the client open on :meth:`aclose` (shared clients)."""
        self._client = client
        self._close_client = close_client
        self._rpc = TrytonRpc(
            client,
            url=settings.url,
            database=settings.database,
            user=settings.user,
            password=settings.password,
            timeout=settings.timeout,
            retry_after=settings.retry_after,
        )
        self._catalogue = Catalogue(self._rpc, settings)
        self._customers = Customers(self._rpc, settings)
        self._sales = SalesOrders(
            self._rpc, settings, catalogue=self._catalogue, customers=self._customers
        )
        self._shipments = CustomerShipments(self._rpc)
        self._documents = OrderDocuments(self._rpc, self._shipments)
        self._shipping = ShipmentRecorder(self._rpc, self._shipments)
        self._amendments = SaleAmendments(self._rpc, catalogue=self._catalogue, sales=self._sales)

    @property
    def rpc(self) -> TrytonRpc:
        """The JSON-RPC session (for diagnostics and tests)."""
        return self._rpc

    # -- health ---------------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise UpstreamUnavailable unless the ERP answers (logging in if needed)."""
        await self._rpc.execute("res.user", "get_preferences", True)

    async def aclose(self) -> None:
        """End the ERP session and close the HTTP client (unless told to leave it open)."""
        try:
            await self._rpc.logout()
        finally:
            if self._close_client:
                await self._client.aclose()

    # -- catalogue ------------------------------------------------------------------------

    async def list_products(
        self, *, offset: int, limit: int, updated_since: dt.datetime | None
    ) -> tuple[list[Product], bool]:
        """Salable products by id, with variants priced; the flag says whether more follow."""
        return await self._catalogue.list_products(
            offset=offset, limit=limit, updated_since=updated_since
        )

    async def get_variant_product(self, sku: str) -> Product:
        """The product holding variant ``sku``; UnknownSku if no product has it."""
        return await self._catalogue.get_variant_product(sku)

    async def stock_levels(self, skus: list[str], warehouse: str | None) -> list[StockLevel]:
        """On-hand, forecast and available stock per SKU in ``warehouse`` (all when None)."""
        return await self._catalogue.stock_levels(skus, warehouse)

    # -- customers ------------------------------------------------------------------------

    async def find_customers(self, email: str) -> list[Customer]:
        """Parties with an email contact equal to ``email`` (case-insensitive)."""
        return await self._customers.find_customers(email)

    # -- sales orders ---------------------------------------------------------------------

    async def find_sales_order(self, external_reference: str) -> SalesOrder | None:
        """The first sale carrying ``external_reference`` (its return sales aside)."""
        return await self._sales.find_sales_order(external_reference)

    async def get_sales_order(self, order_id: str) -> SalesOrder:
        """The sale with Tryton id ``order_id``; OrderNotFound if none."""
        return await self._sales.get_sales_order(order_id)

    async def create_sales_order(self, draft: SalesOrderDraft) -> SalesOrder:
        """Create, quote and confirm a sale; UnknownSku names each line whose SKU is unknown."""
        return await self._sales.create_sales_order(draft)

    async def confirm_sales_order(self, order_id: str, draft: SalesOrderDraft) -> SalesOrder:
        """Complete a sale an interrupted posting of ``draft`` left unconfirmed: quoted (if a
        draft), its total checked against the draft's, confirmed."""
        return await self._sales.confirm_sales_order(order_id, draft)

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        """Cancel a sale; OrderAlreadyShipped once a shipment is shipped or done."""
        return await self._sales.cancel_sales_order(order_id)

    # -- orders that change ---------------------------------------------------------------

    async def amend_sales_order(
        self,
        order_id: str,
        lines: list[OrderLine],
        note: str | None,
        *,
        taxes_included: bool = False,
        expected_total: Decimal | None = None,
    ) -> Amendment:
        """Amend the sale's product lines to ``lines`` and its total to ``expected_total``
        (Tryton's ``sale_amendment``)."""
        return await self._amendments.amend_sales_order(
            order_id, lines, note, taxes_included=taxes_included, expected_total=expected_total
        )

    async def return_shipped(self, order_id: str) -> ShippedReturn:
        """Cut a cancelled sale to what shipped and return that in one return sale."""
        return await self._amendments.return_shipped(order_id)

    # -- documents ------------------------------------------------------------------------

    async def shipments(self, order_id: str) -> list[Shipment]:
        """Customer shipments of the sale, and return shipments of it or its return sales."""
        return await self._documents.shipments(order_id)

    async def record_shipment(self, order_id: str, request: ShipmentRecord) -> Shipment:
        """Ship from the sale's open shipments what left from elsewhere, under the caller's
        reference (found by it on a repeat), forcing the stock when it can't be assigned."""
        return await self._shipping.record(order_id, request)

    async def shipment_changes(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> tuple[list[Shipment], bool]:
        """Customer shipments of sales changed since ``since`` (they or their packages)."""
        return await self._shipments.changes(since, after_id, limit)

    async def invoices(self, order_id: str) -> list[Invoice]:
        """Customer invoices of the sale (credit notes aside)."""
        return await self._documents.invoices(order_id)

    async def credit_notes(self, order_id: str) -> list[CreditNote]:
        """Credit notes crediting the sale's invoices, or invoicing its return sales."""
        return await self._documents.credit_notes(order_id)
