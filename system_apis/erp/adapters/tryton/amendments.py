"""Orders that change after posting, in Tryton: amendments, and returns after a late cancel.

Amending goes through Tryton's ``sale_amendment`` module: one ``sale.amendment`` whose lines
of action ``line`` set an existing sale line's product, quantity and unit price, then its
``validate_amendment`` button, which re-plans the unshipped moves and draft invoice lines.
The module changes existing lines only (Tryton refuses new lines on a confirmed sale), so a
SKU new to the order takes over a line that no longer has a quantity (one removed by this
edit or an earlier one); when there is none, the change is refused as one Tryton can't
express. A sale whose goods are being picked, packed or have left is not amended.

Given the channel's total (``expected_total``), an amendment is priced as a posting is
(:mod:`~system_apis.erp.adapters.tryton.pricing`): each line whose quantity changes, or that a
new SKU takes over, gets the unit price at which Tryton's amount and taxes (the line's own
taxes, which an amendment can't change) are the channel's for the new quantity; what Tryton's
arithmetic then still leaves between the sale's total and the channel's goes to the one
adjustment line, in the same amendment. A sale without one has a line freed by the edit take
that role; failing both, or beyond the adjustment limit, the amendment is refused before
anything changes (409 naming ``expected_total``). After validating, the sale's total is read
back and, should Tryton have computed otherwise than replayed, settled by one more amendment
of the adjustment line (422 naming ``expected_total`` if even that can't make it equal).
Without ``expected_total`` an amendment sets quantities only, keeping each line's price.

An order cancelled after shipment is cut down to what shipped (open shipments cancelled,
line quantities amended to the shipped ones) and one return sale takes that back: what
Tryton's ``sale.return_sale`` wizard makes (a copy with ``origin`` on the sale and negated
quantities), made here by ``copy`` with the reference ``<external reference>:cancel`` set in
the same request, so that a retry after any crash finds it rather than making another.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.models import (
    LineKind,
    Money,
    OrderLine,
    OrderStatus,
    ReturnLine,
    SalesOrder,
    is_exact,
    minor_unit,
)
from system_apis.erp.adapters.tryton.catalogue import CachedProduct, Catalogue
from system_apis.erp.adapters.tryton.pricing import (
    PricedLine,
    SaleTax,
    channel_adjustment_description,
    fit_line_total,
    fit_unit_price,
    line_amounts,
    line_description,
    settle_adjustment,
    tryton_line_total,
)
from system_apis.erp.adapters.tryton.rows import SHIPPED_STATES, Row, parse_sale_id, quantity
from system_apis.erp.adapters.tryton.sales import SalesOrders
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.port import (
    Amendment,
    ErpRejected,
    LineChange,
    NothingShipped,
    OrderNotAmendable,
    OrderNotFound,
    ShippedReturn,
    UnknownSku,
    cancellation_reference,
)

# Shipments whose goods a warehouse has started to handle, or that have left: no amending.
_HANDLED_STATES = frozenset({"picked", "packed", *SHIPPED_STATES})
# Shipments that have not left: cancelled when the order is cancelled after a partial shipment.
_UNSHIPPED_STATES = frozenset({"draft", "waiting", "assigned", "picked", "packed"})
# Amendments this adapter makes carry this, so a draft one left by a crash can be told apart
# from an operator's.
_DESCRIPTION = "Strata"
_PRICE = Decimal("0.0001")
_SALE_FIELDS = [
    "reference",
    "state",
    "total_amount",
    "currency.code",
    "lines.taxes.rate",
    "lines.taxes.name",
    "shipment_state",
    "invoice_state",
    "lines.type",
    "lines.product",
    "lines.product.code",
    "lines.product.type",
    "lines.quantity",
    "lines.unit",
    "lines.unit_price",
    "lines.description",
    "shipments.state",
]
_RETURN_STATUS = {
    "draft": OrderStatus.DRAFT,
    "quotation": OrderStatus.QUOTED,
    "confirmed": OrderStatus.CONFIRMED,
    "processing": OrderStatus.PROCESSING,
    "done": OrderStatus.DONE,
    "cancelled": OrderStatus.CANCELLED,
}


# -- planning: pure, over the sale's product lines --------------------------------------------


@dataclass(frozen=True, slots=True)
class SaleLine:
    """A product line of the sale as Tryton holds it."""

    id: int
    sku: str
    quantity: int
    unit_price: Decimal
    description: str | None = None
    # An amendment can't change a line's taxes: its price is fitted to them.
    taxes: tuple[SaleTax, ...] = ()


@dataclass(frozen=True, slots=True)
class LineEdit:
    """One ``line`` action of an amendment: what the sale line becomes."""

    line_id: int
    sku: str
    quantity: int
    unit_price: Decimal
    description: str | None
    # The SKU the line carried before, when the edit gives it another product.
    replaces: str | None = None


@dataclass(frozen=True, slots=True)
class AmendmentPlan:
    """The edits that bring a sale to the wanted lines, the change per SKU, the wanted
    lines no sale line could take (by their index in the wanted lines), and the lines left
    without quantity once the edits are made (by id)."""

    edits: list[LineEdit]
    changes: list[LineChange]
    unplaced: list[tuple[int, OrderLine]]
    free: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LinePricing:
    """Amended lines priced as a posting prices them (:func:`pricing.price_sale`): at the
    unit price for which Tryton's amount and taxes are the channel's for the new quantity."""

    taxes_included: bool
    # The currency's minor unit.
    unit: Decimal

    def price(
        self,
        lines: Sequence[OrderLine],
        quantity: int,
        taxes: tuple[SaleTax, ...],
        share: tuple[int, int, int] | None = None,
    ) -> Decimal:
        """The unit price of a sale line of ``quantity`` carrying ``lines`` (all of them, or
        the units ``share`` = (first, end, of) when they are spread over several lines)."""
        net, tax = line_amounts(lines, taxes_included=self.taxes_included)
        if share is not None:
            net, tax = self._part(net, share), self._part(tax, share)
        return fit_unit_price(net, quantity, taxes, tax, self.unit)

    def _part(self, amount: Decimal, share: tuple[int, int, int]) -> Decimal:
        # Cumulative rounding: the parts of one amount always add up to it.
        first, end, whole = share
        return (amount * end / whole).quantize(self.unit) - (amount * first / whole).quantize(
            self.unit
        )


def net_unit_price(line: OrderLine) -> Decimal:
    """The line's unit price after its discounts, to Tryton's four places."""
    if not line.discounts:
        return line.unit_price
    net = (line.unit_price * line.quantity - line.discount_total) / line.quantity
    return max(net, Decimal(0)).quantize(_PRICE)


def plan_amendment(
    current: Sequence[SaleLine],
    wanted: Sequence[OrderLine],
    *,
    pricing: LinePricing | None = None,
) -> AmendmentPlan:
    """What to amend so that the sale's product lines carry ``wanted`` (by SKU).

    A SKU already on the sale keeps its lines, its quantity spread over them in order; a
    SKU no longer wanted goes to quantity 0; a new SKU takes over a line left without
    quantity. Without ``pricing`` lines keep their prices and a new SKU takes the wanted
    line's price net of discounts. With it, a SKU wanted on as many lines as the sale has
    for it is paired with them line by line, and every line whose quantity changes or that
    a new SKU takes (one whose taxes have the wanted rates, when there is one) is priced by
    ``pricing``. Nothing to edit means the sale has the wanted lines already.
    """
    want: dict[str, int] = {}
    groups: dict[str, list[OrderLine]] = {}
    first: dict[str, tuple[int, OrderLine]] = {}
    for index, line in enumerate(wanted):
        want[line.sku] = want.get(line.sku, 0) + line.quantity
        groups.setdefault(line.sku, []).append(line)
        first.setdefault(line.sku, (index, line))
    by_sku: dict[str, list[SaleLine]] = {}
    for sale_line in current:
        by_sku.setdefault(sale_line.sku, []).append(sale_line)
    target: dict[int, tuple[str, int, Decimal, str | None]] = {}
    free: list[SaleLine] = []
    for sku, lines in by_sku.items():
        group = groups.get(sku, [])
        if pricing is not None and len(group) == len(lines):
            for sale_line, line in zip(lines, group, strict=True):
                price = pricing.price([line], line.quantity, sale_line.taxes)
                target[sale_line.id] = (sku, line.quantity, price, line_description(line))
            continue
        remaining = want.get(sku, 0)
        placed = 0
        for position, sale_line in enumerate(lines):
            last = position == len(lines) - 1
            qty = remaining if last else min(sale_line.quantity, remaining)
            remaining -= qty
            price = sale_line.unit_price
            if pricing is not None and qty and qty != sale_line.quantity:
                share = (placed, placed + qty, want[sku])
                price = pricing.price(group, qty, sale_line.taxes, share)
            placed += qty
            target[sale_line.id] = (sku, qty, price, sale_line.description)
            if qty == 0:
                free.append(sale_line)
    unplaced: list[tuple[int, OrderLine]] = []
    for sku, qty in want.items():
        if sku in by_sku:
            continue
        index, line = first[sku]
        if not free:
            unplaced.append((index, line))
            continue
        if pricing is None:
            taken = free.pop(0)
            target[taken.id] = (sku, qty, net_unit_price(line), line.description)
            continue
        taken = _free_line_for(free, line)
        price = pricing.price(groups[sku], qty, taken.taxes)
        target[taken.id] = (sku, qty, price, line_description(line))
    edits = []
    for sale_line in current:
        sku, qty, price, description = target[sale_line.id]
        if (sku, qty, price) != (sale_line.sku, sale_line.quantity, sale_line.unit_price):
            edits.append(
                LineEdit(
                    line_id=sale_line.id,
                    sku=sku,
                    quantity=qty,
                    unit_price=price,
                    description=description,
                    replaces=sale_line.sku if sku != sale_line.sku else None,
                )
            )
    before: dict[str, int] = {}
    for sale_line in current:
        before[sale_line.sku] = before.get(sale_line.sku, 0) + sale_line.quantity
    changes = [
        LineChange(sku=sku, before=before.get(sku, 0), after=want.get(sku, 0))
        for sku in dict.fromkeys([*before, *want])
        if before.get(sku, 0) != want.get(sku, 0)
    ]
    return AmendmentPlan(
        edits=edits, changes=changes, unplaced=unplaced, free=[line.id for line in free]
    )


def _free_line_for(free: list[SaleLine], line: OrderLine) -> SaleLine:
    """Take from ``free`` the line whose taxes have ``line``'s rates, else the first."""
    rates = sorted(t.rate.normalize() for t in line.taxes)
    for position, candidate in enumerate(free):
        if sorted(t.rate for t in candidate.taxes) == rates:
            return free.pop(position)
    return free.pop(0)


# -- Tryton ------------------------------------------------------------------------------------


class SaleAmendments:
    """Amendments of confirmed sales, and returns of what a cancelled sale had shipped."""

    def __init__(self, rpc: TrytonRpc, *, catalogue: Catalogue, sales: SalesOrders) -> None:
        """Amend through ``rpc``; products from ``catalogue``; orders read by ``sales``."""
        self._rpc = rpc
        self._catalogue = catalogue
        self._sales = sales

    async def amend_sales_order(
        self,
        order_id: str,
        lines: list[OrderLine],
        note: str | None,
        *,
        taxes_included: bool = False,
        expected_total: Decimal | None = None,
    ) -> Amendment:
        """Bring the sale's product lines to ``lines``, and its total to ``expected_total``
        when given; a no-op when it has them already.

        Costs two reads when nothing changes; an amendment adds its create, its validation
        and one read (and a shipment reset when goods were reserved).
        """
        sale_id = parse_sale_id(order_id)
        row = await self._sale_row(sale_id)
        _require_amendable_state(sale_id, row)
        if row["state"] == "confirmed":
            # Confirmed but not processed yet (a queue worker runs behind): amendments
            # apply to processing sales.
            await self._rpc.execute("sale.sale", "process", [sale_id])
            row = await self._sale_row(sale_id)
        wanted = [line for line in lines if line.kind == LineKind.PRODUCT]
        currency = _currency(row)
        if expected_total is not None and not is_exact(expected_total, currency):
            raise ErpRejected(
                f"expected_total {expected_total} is not a whole number of {currency} minor units",
                errors=[{"field": "expected_total", "message": f"not whole {currency} units"}],
            )
        pricing = None
        if expected_total is not None:
            pricing = LinePricing(taxes_included=taxes_included, unit=minor_unit(currency))
        plan = plan_amendment(_product_lines(row), wanted, pricing=pricing)
        edits = plan.edits
        refusal: OrderNotAmendable | None = None
        if expected_total is not None and not plan.unplaced:
            try:
                edits = self._settle(row, edits, plan.free, expected_total)
            except OrderNotAmendable as exc:
                refusal = exc
        if not edits and not plan.unplaced and refusal is None:
            return Amendment(order=await self._sales.get_sales_order(order_id))
        shipments = row.get("shipments.") or []
        handled = [s for s in shipments if s["state"] in _HANDLED_STATES]
        if row["state"] == "done" or handled:
            states = ", ".join(sorted({s["state"] for s in handled})) or "done"
            raise OrderNotAmendable(
                f"sales order {sale_id} can no longer be amended: its goods are {states}",
                errors=[_change_error(c) for c in plan.changes]
                or (refusal.errors if refusal else None),
            )
        if plan.unplaced:
            raise OrderNotAmendable(
                f"sales order {sale_id} can't take "
                + ", ".join(repr(line.sku) for _, line in plan.unplaced)
                + ": Tryton amends the lines a sale has, and none is free for a new SKU",
                errors=[
                    {"field": f"lines[{index}].sku", "message": f"{line.sku!r} is new to the order"}
                    for index, line in plan.unplaced
                ],
            )
        if refusal is not None:
            raise refusal
        products = await self._products({e.sku for e in edits if e.replaces})
        reserved = [s["id"] for s in shipments if s["state"] == "assigned"]
        if reserved:
            # Reserved goods would keep their moves through the amendment: release them.
            await self._rpc.execute("stock.shipment.out", "wait", reserved)
        amendment_id = await self._amend(sale_id, row, edits, products, note)
        order = await self._sales.get_sales_order(order_id)
        if expected_total is not None and order.total.amount != expected_total:
            order = await self._settle_amended(order_id, expected_total, note)
        return Amendment(order=order, changes=plan.changes, amendment_id=str(amendment_id))

    def _settle(
        self, row: Row, edits: Sequence[LineEdit], free: Sequence[int], expected: Decimal
    ) -> list[LineEdit]:
        """``edits`` and the edit of the adjustment line that makes the sale, once they are
        made, total ``expected`` (Tryton's arithmetic replayed); none when it will already.

        The sale's adjustment line takes the difference, else a line left without quantity
        (``free``) becomes it. OrderNotAmendable naming ``expected_total`` when the
        difference is more than rounding or no line can carry it.
        """
        currency = _currency(row)
        unit = minor_unit(currency)
        lines = {line["id"]: line for line in row.get("lines.") or [] if line.get("type") == "line"}
        predicted: Decimal = row.get("total_amount") or Decimal(0)
        for edit in edits:
            line = lines[edit.line_id]
            taxes = _taxes(line)
            predicted += _line_total(edit.quantity, edit.unit_price, taxes, unit) - _line_total(
                round(line.get("quantity") or 0), line.get("unit_price") or Decimal(0), taxes, unit
            )
        code = self._sales.charges.adjustment
        carriers = [line for line in lines.values() if _code(line) == code]
        held = sum(
            (
                _line_total(round(c.get("quantity") or 0), c["unit_price"], _taxes(c), unit)
                for c in carriers
            ),
            Decimal(0),
        )
        try:
            settled = settle_adjustment(
                expected,
                predicted,
                held,
                currency=currency,
                max_adjustment=self._sales.adjustment_limit(currency),
            )
        except ErpRejected as exc:
            raise OrderNotAmendable(exc.detail, errors=exc.errors) from None
        if settled == held:
            return list(edits)
        sale_id = row["id"]
        if carriers:
            carrier = carriers[0]
            qty = round(carrier.get("quantity") or 0) or 1
            own = _line_total(qty, carrier["unit_price"], _taxes(carrier), unit)
            price = fit_line_total(own + settled - held, qty, _taxes(carrier), unit)
            if price is not None:
                return [
                    *edits,
                    LineEdit(
                        line_id=carrier["id"],
                        sku=code,
                        quantity=qty,
                        unit_price=price,
                        description=carrier.get("description"),
                    ),
                ]
        elif free:
            # An untaxed line first: an adjustment is no supply.
            chosen = min(free, key=lambda i: (bool(lines[i].get("taxes.")), free.index(i)))
            price = fit_line_total(settled, 1, _taxes(lines[chosen]), unit)
            if price is not None:
                reference = row.get("reference") or ""
                channel = reference.partition(":")[0] if ":" in reference else "channel"
                return [
                    *(e for e in edits if e.line_id != chosen),
                    LineEdit(
                        line_id=chosen,
                        sku=code,
                        quantity=1,
                        unit_price=price,
                        description=channel_adjustment_description(channel),
                        replaces=_code(lines[chosen]),
                    ),
                ]
        difference = expected - predicted
        raise OrderNotAmendable(
            f"sales order {sale_id} would total {predicted} {currency} after the change, not "
            f"the channel's {expected}: Tryton adds no line to a confirmed sale, and no "
            f"adjustment line or line freed by the change can carry the {difference}",
            errors=[
                {
                    "field": "expected_total",
                    "message": f"{expected} differs from the amended sale's total "
                    f"({predicted}) by {difference}",
                }
            ],
        )

    async def _settle_amended(
        self, order_id: str, expected: Decimal, note: str | None
    ) -> SalesOrder:
        """Settle the adjustment of a sale Tryton totals otherwise than replayed, in one
        more amendment; ErpRejected naming ``expected_total`` when that can't be done."""
        sale_id = parse_sale_id(order_id)
        row = await self._sale_row(sale_id)
        free = [line.id for line in _product_lines(row) if line.quantity == 0]
        try:
            edits = self._settle(row, [], free, expected)
        except OrderNotAmendable as exc:
            raise ErpRejected(
                f"sales order {sale_id} was amended, but {exc.detail}", errors=exc.errors
            ) from None
        if edits:
            products = await self._products({e.sku for e in edits if e.replaces})
            await self._amend(sale_id, row, edits, products, note)
        order = await self._sales.get_sales_order(order_id)
        if order.total.amount != expected:
            raise ErpRejected(
                f"sales order {sale_id} was amended, but the ERP totals it "
                f"{order.total.amount}, not {expected}",
                errors=[{"field": "expected_total", "message": "the ERP's total differs"}],
            )
        return order

    async def return_shipped(self, order_id: str) -> ShippedReturn:
        """Cut a cancelled order down to what shipped and return that in one return sale.

        A return sale of this order with the cancellation reference is the answer if one
        exists (completed to confirmed if an interrupted call left it a draft or quotation).
        """
        sale_id = parse_sale_id(order_id)
        row = await self._sale_row(sale_id)
        reference = cancellation_reference(row.get("reference") or f"sale:{sale_id}")
        existing = await self._return_sale(sale_id, reference)
        if existing is not None and existing["state"] not in ("draft", "quotation"):
            return await self._shipped_return(order_id, existing["id"], reference, created=False)
        shipped = await self._shipped(row)
        if not any(shipped.values()):
            raise NothingShipped(
                f"sales order {sale_id} shipped nothing: cancel it rather than return it"
            )
        await self._cut_to_shipped(sale_id, row, shipped)
        if existing is None:
            [return_id] = await self._rpc.execute(
                "sale.sale",
                "copy",
                [sale_id],
                {"origin": f"sale.sale,{sale_id}", "reference": reference},
            )
            state = "draft"
        else:
            return_id, state = existing["id"], existing["state"]
        if state == "draft":
            await self._shape_return(return_id, row, shipped)
            await self._rpc.execute("sale.sale", "quote", [return_id])
        await self._rpc.execute("sale.sale", "confirm", [return_id])
        return await self._shipped_return(order_id, return_id, reference, created=True)

    # -- reads ------------------------------------------------------------------------------

    async def _sale_row(self, sale_id: int) -> Row:
        rows = await self._rpc.execute(
            "sale.sale", "search_read", [("id", "=", sale_id)], 0, 1, None, _SALE_FIELDS
        )
        if not rows:
            raise OrderNotFound(f"no sales order {sale_id}")
        row: Row = rows[0]
        return row

    async def _products(self, skus: set[str]) -> dict[str, CachedProduct]:
        if not skus:
            return {}
        found = await self._catalogue.resolve_skus(sorted(skus))
        bad = [s for s in sorted(skus) if s not in found or not found[s].salable]
        if bad:
            raise UnknownSku(
                "; ".join(f"SKU {s!r} is not for sale" for s in bad),
                errors=[
                    {"field": "lines.sku", "message": f"SKU {s!r} is not for sale"} for s in bad
                ],
            )
        return found

    async def _shipped(self, row: Row) -> dict[int, int]:
        """Quantity shipped per product line of the sale (shipments shipped or done)."""
        done = [s["id"] for s in row.get("shipments.") or [] if s["state"] in SHIPPED_STATES]
        shipped = {line.id: 0 for line in _product_lines(row)}
        if not done:
            return shipped
        rows = await self._rpc.execute(
            "stock.shipment.out",
            "read",
            done,
            ["outgoing_moves.origin", "outgoing_moves.quantity", "outgoing_moves.state"],
        )
        for shipment in rows:
            for move in shipment.get("outgoing_moves.") or []:
                origin = move.get("origin") or ""
                if move.get("state") == "cancelled" or not origin.startswith("sale.line,"):
                    continue
                line_id = int(origin.partition(",")[2])
                if line_id in shipped:
                    shipped[line_id] += int(quantity(move.get("quantity")))
        return shipped

    async def _return_sale(self, sale_id: int, reference: str) -> Row | None:
        rows = await self._rpc.execute(
            "sale.sale",
            "search_read",
            [("origin", "=", f"sale.sale,{sale_id}"), ("reference", "=", reference)],
            0,
            1,
            [("id", "ASC")],
            ["state"],
        )
        return rows[0] if rows else None

    async def _shipped_return(
        self, order_id: str, return_id: int, reference: str, *, created: bool
    ) -> ShippedReturn:
        order = await self._sales.get_sales_order(order_id)
        [row] = await self._rpc.execute(
            "sale.sale",
            "read",
            [return_id],
            [
                "number",
                "state",
                "total_amount",
                "currency.code",
                "lines.type",
                "lines.product.code",
                "lines.quantity",
            ],
        )
        back: dict[str, int] = {}
        for line in row.get("lines.") or []:
            sku = (line.get("product.") or {}).get("code")
            if line.get("type") == "line" and sku and (line.get("quantity") or 0) < 0:
                back[sku] = back.get(sku, 0) - round(line["quantity"])
        currency = (row.get("currency.") or {}).get("code") or order.currency
        return ShippedReturn(
            order=order,
            return_order_id=str(return_id),
            return_number=row.get("number"),
            reference=reference,
            status=_RETURN_STATUS[row["state"]],
            lines=[
                ReturnLine(sku=sku, quantity=qty, reason="order cancelled after shipment")
                for sku, qty in back.items()
            ],
            total=Money(amount=abs(row.get("total_amount") or Decimal(0)), currency=currency),
            created=created,
        )

    # -- writes -----------------------------------------------------------------------------

    async def _amend(
        self,
        sale_id: int,
        row: Row,
        edits: Sequence[LineEdit],
        products: Mapping[str, CachedProduct],
        note: str | None,
    ) -> int:
        lines = {line["id"]: line for line in row.get("lines.") or []}
        values = []
        for edit in edits:
            line = lines[edit.line_id]
            product = products.get(edit.sku) if edit.replaces else None
            values.append(
                {
                    "action": "line",
                    "line": edit.line_id,
                    "product": product.id if product else line["product"],
                    "quantity": float(edit.quantity),
                    "unit": product.unit if product else line["unit"],
                    "unit_price": edit.unit_price,
                    "description": edit.description
                    if edit.description is not None
                    else (product.name if product else line.get("description")),
                }
            )
        await self._discard_unfinished(sale_id)
        description = f"{_DESCRIPTION}: {note}" if note else _DESCRIPTION
        [amendment_id] = await self._rpc.execute(
            "sale.amendment",
            "create",
            [{"sale": sale_id, "description": description[:128], "lines": [["create", values]]}],
        )
        await self._rpc.execute("sale.amendment", "validate_amendment", [amendment_id])
        return int(amendment_id)

    async def _discard_unfinished(self, sale_id: int) -> None:
        # A crash between an amendment's create and its validation leaves a draft: drop ours.
        left = await self._rpc.execute(
            "sale.amendment",
            "search",
            [
                ("sale", "=", sale_id),
                ("state", "=", "draft"),
                ("description", "like", f"{_DESCRIPTION}%"),
            ],
            0,
            None,
            None,
        )
        if left:
            await self._rpc.execute("sale.amendment", "delete", left)

    async def _cut_to_shipped(self, sale_id: int, row: Row, shipped: Mapping[int, int]) -> None:
        """Cancel what has not left and amend each line to the quantity that did."""
        open_shipments = [
            s["id"] for s in row.get("shipments.") or [] if s["state"] in _UNSHIPPED_STATES
        ]
        if open_shipments:
            await self._rpc.execute("stock.shipment.out", "cancel", open_shipments)
            await self._ignore_cancelled_moves(sale_id)
        edits = [
            LineEdit(
                line_id=line.id,
                sku=line.sku,
                quantity=shipped[line.id],
                unit_price=line.unit_price,
                description=line.description,
            )
            for line in _product_lines(row)
            if line.quantity != shipped[line.id]
        ]
        if edits:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            await self._amend(sale_id, row, edits, {}, f"cancelled after shipment, {stamp}")

    async def _ignore_cancelled_moves(self, sale_id: int) -> None:
        # Cancelled moves not marked ignored put the sale in shipment exception and make
        # Tryton plan them again.
        [sale] = await self._rpc.execute(
            "sale.sale", "read", [sale_id], ["lines.moves", "lines.moves_ignored"]
        )
        move_ids = [m for line in sale.get("lines.") or [] for m in line.get("moves") or []]
        if not move_ids:
            return
        moves = await self._rpc.execute("stock.move", "read", move_ids, ["state"])
        cancelled = {m["id"] for m in moves if m["state"] == "cancelled"}
        writes: list[Any] = []
        for line in sale.get("lines.") or []:
            ignored = set(line.get("moves_ignored") or [])
            new = [m for m in line.get("moves") or [] if m in cancelled and m not in ignored]
            if new:
                writes += [[line["id"]], {"moves_ignored": [["add", new]]}]
        if writes:
            await self._rpc.execute(
                "sale.sale", "write", [sale_id], {"lines": [["write", *writes]]}
            )

    async def _shape_return(self, return_id: int, row: Row, shipped: Mapping[int, int]) -> None:
        """Keep one line per product shipped, at minus the quantity shipped; drop the rest."""
        by_sku: dict[str, int] = {}
        for line in _product_lines(row):
            by_sku[line.sku] = by_sku.get(line.sku, 0) + shipped[line.id]
        [copy] = await self._rpc.execute(
            "sale.sale", "read", [return_id], ["lines.type", "lines.product.code", "lines.quantity"]
        )
        writes: list[Any] = []
        drop: list[int] = []
        for line in copy.get("lines.") or []:
            sku = (line.get("product.") or {}).get("code")
            qty = by_sku.pop(sku, 0) if line.get("type") == "line" and sku else 0
            if qty:
                writes += [[line["id"]], {"quantity": float(-qty)}]
            else:
                drop.append(line["id"])
        if writes:
            await self._rpc.execute("sale.line", "write", *writes)
        if drop:
            await self._rpc.execute("sale.line", "delete", drop)


# -- Tryton rows -------------------------------------------------------------------------------


def _product_lines(row: Row) -> list[SaleLine]:
    """The sale's lines of stocked products (charges, comments and services aside)."""
    return [
        SaleLine(
            id=line["id"],
            sku=(line.get("product.") or {}).get("code") or "",
            quantity=round(line.get("quantity") or 0),
            unit_price=line.get("unit_price") or Decimal(0),
            description=line.get("description"),
            taxes=_taxes(line),
        )
        for line in row.get("lines.") or []
        if line.get("type") == "line"
        and (line.get("product.") or {}).get("type") == "goods"
        and (line.get("product.") or {}).get("code")
    ]


def _taxes(line: Row) -> tuple[SaleTax, ...]:
    """A sale line's taxes, by id (the order Tryton computes them in)."""
    return tuple(
        sorted(
            (
                SaleTax(tax["id"], Decimal(tax["rate"]).normalize(), tax.get("name") or "")
                for tax in line.get("taxes.") or []
            ),
            key=lambda tax: tax.id,
        )
    )


def _code(line: Row) -> str:
    return str((line.get("product.") or {}).get("code") or "")


def _currency(row: Row) -> str:
    return str((row.get("currency.") or {}).get("code") or "XXX")


def _line_total(
    qty: int, unit_price: Decimal, taxes: tuple[SaleTax, ...], unit: Decimal
) -> Decimal:
    """A line's amount and taxes as Tryton computes them."""
    line = PricedLine(product="", quantity=qty, unit_price=unit_price, taxes=taxes, description="")
    return tryton_line_total(line, unit)


def _require_amendable_state(sale_id: int, row: Row) -> None:
    state = row["state"]
    cancelled = state == "cancelled" or (
        state == "done"
        and row.get("shipment_state") == "none"
        and row.get("invoice_state") == "none"
    )
    if cancelled:
        raise OrderNotAmendable(f"sales order {sale_id} is cancelled")
    if state in ("draft", "quotation"):
        raise OrderNotAmendable(f"sales order {sale_id} is not confirmed yet ({state})")


def _change_error(change: LineChange) -> dict[str, str]:
    return {"field": "lines", "message": f"{change.sku}: {change.before} -> {change.after}"}
