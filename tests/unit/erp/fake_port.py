"""An in-memory ERP for unit tests of the service and routes (integration tests use Tryton)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from decimal import Decimal

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
    ShipmentLine,
    ShipmentRecord,
    StockLevel,
    Variant,
)
from shared.problems import ValidationFailed
from system_apis.erp.port import (
    Amendment,
    LineChange,
    NothingShipped,
    OrderAlreadyShipped,
    OrderNotAmendable,
    OrderNotFound,
    ShippedReturn,
    UnknownSku,
    cancellation_reference,
)


class InMemoryErp:
    def __init__(self, skus: dict[str, Decimal], create_delay: float = 0.0) -> None:
        self.prices = skus
        self.stock = dict.fromkeys(skus, Decimal(100))
        self.orders: dict[str, SalesOrder] = {}
        self.shipped: set[str] = set()
        self.amendments: list[tuple[str, list[LineChange]]] = []
        # What each amendment was asked to price with: (order, taxes_included, expected_total).
        self.amended_totals: list[tuple[str, bool, Decimal | None]] = []
        self.returns: dict[str, ShippedReturn] = {}
        # Customer shipments by id, as the warehouse left them (tests put them here).
        self.customer_shipments: dict[str, Shipment] = {}
        self.create_calls = 0
        self.create_delay = create_delay
        self._ids = itertools.count(1)

    async def ping(self) -> None:
        return None

    async def list_products(
        self, *, offset: int, limit: int, updated_since: dt.datetime | None
    ) -> tuple[list[Product], bool]:
        skus = sorted(self.prices)
        page = skus[offset : offset + limit]
        return [self._product(s) for s in page], offset + limit < len(skus)

    def _product(self, sku: str) -> Product:
        return Product(
            id=sku,
            name=sku,
            variants=[
                Variant(sku=sku, name=sku, price=Money(amount=self.prices[sku], currency="EUR"))
            ],
        )

    async def get_variant_product(self, sku: str) -> Product:
        if sku not in self.prices:
            raise UnknownSku(f"unknown SKU {sku}")
        return self._product(sku)

    async def stock_levels(self, skus: list[str], warehouse: str | None) -> list[StockLevel]:
        for i, s in enumerate(skus):
            if s not in self.prices:
                raise UnknownSku(errors=[{"field": f"sku[{i}]", "message": f"unknown SKU {s}"}])
        return [
            StockLevel(
                sku=s,
                warehouse=warehouse or "WH",
                on_hand=self.stock[s],
                forecast=self.stock[s],
                available=self.stock[s],
            )
            for s in skus
        ]

    async def find_customers(self, email: str) -> list[Customer]:
        return []

    async def find_sales_order(self, external_reference: str) -> SalesOrder | None:
        return next(
            (o for o in self.orders.values() if o.external_reference == external_reference), None
        )

    async def create_sales_order(self, draft: SalesOrderDraft) -> SalesOrder:
        self.create_calls += 1
        for i, line in enumerate(draft.lines):
            if line.sku not in self.prices:
                raise UnknownSku(errors=[{"field": f"lines[{i}].sku", "message": "unknown"}])
        await asyncio.sleep(self.create_delay)
        oid = str(next(self._ids))
        total = sum((line.unit_price * line.quantity for line in draft.lines), Decimal(0))
        order = SalesOrder(
            id=oid,
            number=f"SO{oid}",
            external_reference=draft.external_reference,
            status=OrderStatus.PROCESSING,
            currency=draft.currency,
            customer_email=draft.customer.email,
            lines=draft.lines,
            total=Money(amount=total, currency=draft.currency),
        )
        self.orders[oid] = order
        for line in draft.lines:
            self.stock[line.sku] -= line.quantity
        return order

    async def confirm_sales_order(self, order_id: str, draft: SalesOrderDraft) -> SalesOrder:
        # Orders made here are confirmed at once: there is never a half-made one to complete.
        return await self.get_sales_order(order_id)

    async def get_sales_order(self, order_id: str) -> SalesOrder:
        if order_id not in self.orders:
            raise OrderNotFound(f"no order {order_id}")
        return self.orders[order_id]

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        order = await self.get_sales_order(order_id)
        if order_id in self.shipped:
            raise OrderAlreadyShipped("shipped")
        self.orders[order_id] = msgspec.structs.replace(order, status=OrderStatus.CANCELLED)
        return self.orders[order_id]

    async def amend_sales_order(
        self,
        order_id: str,
        lines: list[OrderLine],
        note: str | None,
        *,
        taxes_included: bool = False,
        expected_total: Decimal | None = None,
    ) -> Amendment:
        order = await self.get_sales_order(order_id)
        before = _quantities(order.lines)
        after = _quantities(lines)
        changes = [
            LineChange(sku=sku, before=before.get(sku, 0), after=after.get(sku, 0))
            for sku in dict.fromkeys([*before, *after])
            if before.get(sku, 0) != after.get(sku, 0)
        ]
        if not changes and expected_total in (None, order.total.amount):
            return Amendment(order=order)
        if order_id in self.shipped or order.status == OrderStatus.CANCELLED:
            raise OrderNotAmendable(f"order {order_id} can no longer be amended")
        for i, line in enumerate(lines):
            if line.sku not in self.prices:
                raise UnknownSku(errors=[{"field": f"lines[{i}].sku", "message": "unknown"}])
        total = expected_total
        if total is None:
            total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
        self.amended_totals.append((order_id, taxes_included, expected_total))
        self.orders[order_id] = msgspec.structs.replace(
            order, lines=list(lines), total=Money(amount=total, currency=order.currency)
        )
        self.amendments.append((order_id, changes))
        return Amendment(
            order=self.orders[order_id], changes=changes, amendment_id=str(len(self.amendments))
        )

    async def return_shipped(self, order_id: str) -> ShippedReturn:
        order = await self.get_sales_order(order_id)
        if order_id in self.returns:
            return msgspec.structs.replace(self.returns[order_id], created=False)
        if order_id not in self.shipped:
            raise NothingShipped(f"order {order_id} shipped nothing")
        made = ShippedReturn(
            order=order,
            return_order_id=f"R{order_id}",
            return_number=f"SR{order_id}",
            reference=cancellation_reference(order.external_reference),
            status=OrderStatus.PROCESSING,
            lines=[ReturnLine(sku=ln.sku, quantity=ln.quantity) for ln in order.lines],
            total=order.total,
            created=True,
        )
        self.returns[order_id] = made
        return made

    async def shipments(self, order_id: str) -> list[Shipment]:
        return [s for s in self.customer_shipments.values() if s.order_id == order_id]

    async def record_shipment(self, order_id: str, request: ShipmentRecord) -> Shipment:
        """A done shipment carrying ``request.reference``; the same one on a repeat."""
        if order_id not in self.orders:
            raise OrderNotFound(order_id)
        for shipment in self.customer_shipments.values():
            if shipment.order_id == order_id and shipment.reference == request.reference:
                return shipment
        shipment_id = str(len(self.customer_shipments) + 1)
        shipment = Shipment(
            id=shipment_id,
            number=shipment_id,
            state="done",
            order_id=order_id,
            reference=request.reference,
            carrier=request.carrier,
            lines=[
                ShipmentLine(sku=line.sku, quantity=Decimal(line.quantity))
                for line in request.lines
            ],
            updated_at=dt.datetime.now(dt.UTC),
        )
        self.customer_shipments[shipment_id] = shipment
        return shipment

    async def shipment_changes(
        self, since: dt.datetime, after_id: str | None, limit: int
    ) -> tuple[list[Shipment], bool]:
        def key(shipment: Shipment) -> tuple[dt.datetime, int]:
            return (shipment.updated_at or dt.datetime.min.replace(tzinfo=dt.UTC), int(shipment.id))

        ordered = sorted(
            (s for s in self.customer_shipments.values() if key(s)[0] >= since), key=key
        )
        if after_id is not None:
            if not after_id.isdigit():
                raise ValidationFailed("no such shipment", errors=[{"field": "query.cursor"}])
            ordered = [s for s in ordered if key(s) > (since, int(after_id))]
        return ordered[:limit], len(ordered) > limit

    async def invoices(self, order_id: str) -> list[Invoice]:
        return []

    async def credit_notes(self, order_id: str) -> list[CreditNote]:
        return []

    async def aclose(self) -> None:
        return None


def _quantities(lines: list[OrderLine]) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in lines:
        found[line.sku] = found.get(line.sku, 0) + line.quantity
    return found
