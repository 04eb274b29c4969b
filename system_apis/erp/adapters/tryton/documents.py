"""Documents of a sales order in Tryton: shipments (returns included), invoices, credit notes."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from shared.models import CreditNote, Invoice, InvoiceLine, Money, Shipment, ShipmentLine
from system_apis.erp.adapters.tryton.rows import (
    Row,
    parse_sale_id,
    quantity,
    utc,
)
from system_apis.erp.adapters.tryton.shipments import CustomerShipments
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.port import OrderNotFound

_INVOICE_FIELDS = [
    "number",
    "state",
    "total_amount",
    "invoice_date",
    "currency.code",
    "lines.product.code",
    "lines.quantity",
    "lines.unit_price",
]
_CREDIT_NOTE_FIELDS = [
    "number",
    "state",
    "total_amount",
    "invoice_date",
    "currency.code",
    "origin_invoices",
]
_SHIPMENT_FIELDS = ["number", "reference", "state", "create_date", "write_date"]
# Goods coming back: one move per line and SKU.
_RETURN_MOVES = "incoming_moves"


class OrderDocuments:
    """Shipments, invoices and credit notes that Tryton made for a sale."""

    def __init__(self, rpc: TrytonRpc, customer_shipments: CustomerShipments) -> None:
        """Read through ``rpc``; customer shipments through ``customer_shipments``."""
        self._rpc = rpc
        self._customer_shipments = customer_shipments

    async def shipments(self, order_id: str) -> list[Shipment]:
        """Customer shipments of the sale (with carrier, packages and tracking), and return
        shipments of it or its return sales."""
        sale_id = parse_sale_id(order_id)
        from_sale = ("moves.origin.sale", "=", sale_id, "sale.line")
        from_returns = ("moves.origin.sale.origin", "=", f"sale.sale,{sale_id}", "sale.line")
        _, out, back = await asyncio.gather(
            self._require_sale(sale_id),
            self._customer_shipments.of_sale(sale_id),
            self._rpc.execute(
                "stock.shipment.out.return",
                "search_read",
                [["OR", from_sale, from_returns]],
                0,
                None,
                [("id", "ASC")],
                [*_SHIPMENT_FIELDS, f"{_RETURN_MOVES}.product.code", f"{_RETURN_MOVES}.quantity"],
            ),
        )
        return [*out, *(_return_shipment(r) for r in back)]

    async def invoices(self, order_id: str) -> list[Invoice]:
        """Customer invoices of the sale (credit notes aside)."""
        sale_id = parse_sale_id(order_id)
        _, rows = await asyncio.gather(
            self._require_sale(sale_id),
            self._rpc.execute(
                "account.invoice",
                "search_read",
                [("type", "=", "out"), ("sales", "=", sale_id), ("total_amount", ">=", 0)],
                0,
                None,
                [("id", "ASC")],
                _INVOICE_FIELDS,
            ),
        )
        return [_invoice(row) for row in rows]

    async def credit_notes(self, order_id: str) -> list[CreditNote]:
        """Credit notes crediting the sale's invoices, or invoicing its return sales.

        ``total`` is the amount credited, as a positive number.
        """
        sale_id = parse_sale_id(order_id)
        domain = [
            ("type", "=", "out"),
            ("total_amount", "<", 0),
            [
                "OR",
                ("sales", "=", sale_id),
                ("origin_invoices.sales", "=", sale_id),
                ("sales.origin", "=", f"sale.sale,{sale_id}"),
            ],
        ]
        _, rows = await asyncio.gather(
            self._require_sale(sale_id),
            self._rpc.execute(
                "account.invoice",
                "search_read",
                domain,
                0,
                None,
                [("id", "ASC")],
                _CREDIT_NOTE_FIELDS,
            ),
        )
        return [_credit_note(row) for row in rows]

    async def _require_sale(self, sale_id: int) -> None:
        found = await self._rpc.execute("sale.sale", "search_count", [("id", "=", sale_id)])
        if not found:
            raise OrderNotFound(f"no sales order {sale_id}")


# -- Tryton rows to canonical models ---------------------------------------------------------


def _return_shipment(row: Row) -> Shipment:
    quantities: dict[str, Decimal] = {}
    for move in row.get(f"{_RETURN_MOVES}.") or []:
        sku = (move.get("product.") or {}).get("code") or ""
        quantities[sku] = quantities.get(sku, Decimal(0)) + quantity(move.get("quantity"))
    shipped_at = (
        utc(row.get("write_date") or row.get("create_date"))
        if row["state"] in ("received", "done")
        else None
    )
    return Shipment(
        id=str(row["id"]),
        number=row.get("number"),
        state=row["state"],
        lines=[ShipmentLine(sku=sku, quantity=qty) for sku, qty in quantities.items()],
        shipped_at=shipped_at,
        is_return=True,
        created_at=utc(row.get("create_date")),
        updated_at=utc(row.get("write_date") or row.get("create_date")),
        reference=row.get("reference") or None,
    )


def _invoice(row: Row) -> Invoice:
    currency = (row.get("currency.") or {}).get("code") or "XXX"
    return Invoice(
        id=str(row["id"]),
        number=row.get("number"),
        state=row["state"],
        total=Money(amount=row.get("total_amount") or Decimal(0), currency=currency),
        invoice_date=row.get("invoice_date"),
        lines=[
            InvoiceLine(
                sku=(line.get("product.") or {}).get("code"),
                quantity=quantity(line.get("quantity")),
                unit_price=line.get("unit_price") or Decimal(0),
            )
            for line in row.get("lines.") or []
        ],
    )


def _credit_note(row: Row) -> CreditNote:
    currency = (row.get("currency.") or {}).get("code") or "XXX"
    origins = row.get("origin_invoices") or []
    return CreditNote(
        id=str(row["id"]),
        number=row.get("number"),
        state=row["state"],
        total=Money(amount=abs(row.get("total_amount") or Decimal(0)), currency=currency),
        credited_invoice=str(origins[0]) if origins else None,
        invoice_date=row.get("invoice_date"),
    )
