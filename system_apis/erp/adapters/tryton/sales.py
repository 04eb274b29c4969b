"""Sales orders in Tryton: create (quote and confirm), find by reference, read, cancel.

A sale is built from ids the catalogue and the customers cache: when the ERP refuses a sale
built from cached ids, they are looked up again and the sale posted once more. Its lines are
priced by :func:`system_apis.erp.adapters.tryton.pricing.price_sale`, so that the sale's
total is the channel's to the minor unit; after quoting, the ERP's total is compared with
the channel's and the one adjustment line set to any difference left.

Creating, quoting and confirming are three requests. A timeout or crash between them leaves
a draft or a quotation carrying the order's reference: :meth:`SalesOrders.find_sales_order`
reports it as such (status ``draft`` or ``quoted``) and
:meth:`SalesOrders.confirm_sales_order` completes that same sale, checking its total as
creating does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from shared.models import (
    ChargeKind,
    LineKind,
    Money,
    OrderCharge,
    OrderLine,
    OrderStatus,
    SalesOrder,
    SalesOrderDraft,
    minor_unit,
)
from system_apis.erp.adapters.tryton.catalogue import CachedProduct, Catalogue
from system_apis.erp.adapters.tryton.master_data import SalesMasterData
from system_apis.erp.adapters.tryton.parties import Customers
from system_apis.erp.adapters.tryton.pricing import (
    ChargeProducts,
    PricedLine,
    adjustment_description,
    charge_products,
    check_products,
    price_sale,
    sale_line,
    sale_products,
    settled_adjustment,
    tax_rates,
    tryton_amount,
)
from system_apis.erp.adapters.tryton.rows import (
    SHIPPED_STATES,
    Row,
    parse_sale_id,
    quantity,
    utc,
)
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.adapters.tryton_settings import TrytonSettings
from system_apis.erp.port import ErpRejected, OrderAlreadyShipped, OrderNotFound

_SALE_FIELDS = [
    "number",
    "reference",
    "state",
    "shipment_state",
    "invoice_state",
    "total_amount",
    "create_date",
    "currency.code",
    "contact.value",
    "party.email",
    "untaxed_amount",
    "tax_amount",
    "lines.type",
    "lines.product.code",
    "lines.quantity",
    "lines.unit_price",
    "lines.description",
]
_STATUS = {
    "draft": OrderStatus.DRAFT,
    "quotation": OrderStatus.QUOTED,
    "confirmed": OrderStatus.CONFIRMED,
    "processing": OrderStatus.PROCESSING,
    "done": OrderStatus.DONE,
    "cancelled": OrderStatus.CANCELLED,
}
# A sale left here by an interrupted posting: created, perhaps quoted, never confirmed.
_UNFINISHED_STATES = frozenset({"draft", "quotation"})
_OPEN_SHIPMENT_STATES = frozenset({"draft", "waiting", "assigned", "picked", "packed"})
_CANCELLABLE_INVOICE_STATES = frozenset({"draft", "validated", "posted"})


class _StaleCache(Exception):
    """The ERP refused a sale built from cached ids; carries the refusal."""

    def __init__(self, rejection: ErpRejected) -> None:
        super().__init__(str(rejection))
        self.rejection = rejection


class SalesOrders:
    """Tryton sales as canonical sales orders."""

    def __init__(
        self,
        rpc: TrytonRpc,
        settings: TrytonSettings,
        *,
        catalogue: Catalogue,
        customers: Customers,
    ) -> None:
        """Post through ``rpc`` to ``settings.warehouse_code``, with ids from the caches."""
        self._rpc = rpc
        self._settings = settings
        self._catalogue = catalogue
        self._customers = customers
        self._master = SalesMasterData(rpc, settings)
        self._charges = charge_products(settings)

    async def find_sales_order(self, external_reference: str) -> SalesOrder | None:
        """The first sale carrying ``external_reference`` (its return sales aside).

        It may be a draft or a quotation (status ``draft`` or ``quoted``) that an interrupted
        posting left behind: :meth:`confirm_sales_order` completes it.
        """
        rows = await self._rpc.execute(
            "sale.sale",
            "search_read",
            [
                ("reference", "=", external_reference),
                ["OR", ("origin", "=", None), ("origin", "not like", "sale.sale,%")],
            ],
            0,
            1,
            [("id", "ASC")],
            _SALE_FIELDS,
        )
        return _sales_order(rows[0], self._charges) if rows else None

    async def get_sales_order(self, order_id: str) -> SalesOrder:
        """The sale with Tryton id ``order_id``; OrderNotFound if none."""
        return _sales_order(
            await self._sale_row(parse_sale_id(order_id), _SALE_FIELDS), self._charges
        )

    async def _sale_row(self, sale_id: int, fields: list[str]) -> Row:
        rows = await self._rpc.execute(
            "sale.sale", "search_read", [("id", "=", sale_id)], 0, 1, None, fields
        )
        if not rows:
            raise OrderNotFound(f"no sales order {sale_id}")
        row: Row = rows[0]
        return row

    async def create_sales_order(self, draft: SalesOrderDraft) -> SalesOrder:
        """Create, quote and confirm a sale; UnknownSku names each line whose SKU is unknown.

        The customer is found by email or created (with email, phone and address); the
        shipping address is matched against the party's addresses or added to them. The
        answer's status is ``confirmed``: Tryton processes the sale (shipment, invoice) right
        after, in the same request or through its queue when a worker runs.
        Steady state costs four sequential calls (create, quote, confirm, read); customers
        and SKUs are cached.
        """
        try:
            return await self._post_sale(draft, cached=True)
        except _StaleCache as stale:
            # A cached party, address or product may have changed in the ERP: look them
            # up again and try once more before giving up.
            if not self._forget(draft):
                raise stale.rejection from None
        return await self._post_sale(draft, cached=False)

    def _forget(self, draft: SalesOrderDraft) -> bool:
        """Drop what the caches hold for ``draft``; say whether they held anything."""
        held = self._customers.forget(draft.customer.email, company=draft.company_name)
        for line in draft.lines:
            held = self._catalogue.forget_sku(line.sku) or held
        return held

    async def _post_sale(self, draft: SalesOrderDraft, *, cached: bool) -> SalesOrder:
        products, currency, warehouse, parties, taxes, payment_term = await asyncio.gather(
            self._catalogue.resolve_skus(sale_products(draft, self._charges)),
            self._master.currency(draft.currency),
            self._catalogue.warehouse_id(self._settings.warehouse_code),
            self._customers.parties_for(
                draft.customer.email, cached=cached, company=draft.company_name
            ),
            self._master.taxes(tax_rates(draft)),
            self._master.payment_term(draft.payment_terms),
        )
        check_products(draft, products, self._charges)
        priced = price_sale(draft, taxes, self._charges, max_adjustment=self._limit(draft))
        lines = [sale_line(line, products[line.product]) for line in priced.lines]
        values: dict[str, Any] = {
            "company": self._rpc.context.get("company"),
            "currency": currency,
            "warehouse": warehouse,
            "reference": draft.external_reference,
            "description": _description(draft),
            "lines": [["create", lines]],
        }
        if payment_term is not None:
            values["payment_term"] = payment_term
        if draft.ordered_at is not None:
            values["sale_date"] = _utc_date(draft.ordered_at)
        comment = _comment(draft)
        if comment:
            values["comment"] = comment
        try:
            customer = await self._customers.customer_party(draft, parties)
            values["party"] = customer.party
            values["contact"] = customer.contact
            values["invoice_address"] = customer.invoice_address
            values["shipment_address"] = customer.shipment_address
            [sale_id] = await self._rpc.execute("sale.sale", "create", [values])
        except ErpRejected as rejection:
            if cached:
                raise _StaleCache(rejection) from rejection
            raise
        try:
            row = await self._quote_and_check(
                sale_id, draft, adjustment=priced.adjustment, products=products
            )
            await self._rpc.execute("sale.sale", "confirm", [sale_id])
        except ErpRejected:
            await self._discard(sale_id)
            raise
        unit = minor_unit(draft.currency)
        return SalesOrder(
            id=str(sale_id),
            number=row.get("number"),
            external_reference=draft.external_reference,
            # Confirmed; shipments and invoices follow (at once, or through Tryton's queue).
            status=OrderStatus.CONFIRMED,
            currency=draft.currency,
            customer_email=customer.email,
            lines=[
                OrderLine(
                    sku=draft.lines[line.line].sku,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    description=line.description,
                    kind=draft.lines[line.line].kind,
                )
                for line in priced.lines
                if line.line is not None
            ],
            total=Money(amount=row.get("total_amount") or Decimal(0), currency=draft.currency),
            created_at=utc(row.get("create_date")),
            untaxed=Money(amount=row.get("untaxed_amount") or Decimal(0), currency=draft.currency),
            tax=Money(amount=row.get("tax_amount") or Decimal(0), currency=draft.currency),
            charges=[
                _charge(line.charge, line, unit)
                for line in priced.lines
                if line.charge is not None and line.charge != "adjustment"
            ],
            adjustment=Money(amount=row["adjustment"], currency=draft.currency)
            if row.get("adjustment")
            else None,
        )

    def _limit(self, draft: SalesOrderDraft) -> Decimal:
        """The largest adjustment line ``draft`` may carry."""
        return self.adjustment_limit(draft.currency)

    def adjustment_limit(self, currency: str) -> Decimal:
        """The largest adjustment line a sale in ``currency`` may carry."""
        return self._settings.max_adjustment_minor_units * minor_unit(currency)

    @property
    def charges(self) -> ChargeProducts:
        """The non-stock products charges and the adjustment post on."""
        return self._charges

    async def _quote_and_check(
        self,
        sale_id: int,
        draft: SalesOrderDraft,
        *,
        quote: bool = True,
        adjustment: Decimal | None = None,
        products: Mapping[str, CachedProduct] | None = None,
    ) -> Row:
        """Quote the sale (unless it is a quotation already) and read its number and totals;
        when its total is not ``draft.expected_total`` after all (Tryton computed otherwise
        than :func:`price_sale` replays, or the sale was made otherwise), bring it back to
        draft, set the one adjustment line to the difference, quote again.

        ``adjustment`` is what the sale's adjustment line holds, when the caller knows it;
        ``products`` may hold the adjustment product. The row's ``adjustment`` is the
        adjustment line's amount, or None when it was not read. ErpRejected (the sale left as
        it is) when a step is refused, the difference is more than rounding or the ERP's
        total is still not the channel's.
        """
        fields = ["number", "create_date", "untaxed_amount", "tax_amount", "total_amount"]
        if quote:
            await self._rpc.execute("sale.sale", "quote", [sale_id])
        [row] = await self._rpc.execute("sale.sale", "read", [sale_id], fields)
        row["adjustment"] = adjustment
        expected = draft.expected_total
        if expected is None or row["total_amount"] == expected:
            return dict(row)
        code = self._charges.adjustment
        found = await self._rpc.execute(
            "sale.line",
            "search_read",
            [("sale", "=", sale_id), ("product.code", "=", code)],
            0,
            None,
            [("id", "ASC")],
            ["unit_price", "quantity"],
        )
        held = sum(
            ((line["unit_price"] or Decimal(0)) * quantity(line["quantity"]) for line in found),
            Decimal(0),
        )
        settled = settled_adjustment(
            draft, row["total_amount"], held, max_adjustment=self._limit(draft)
        )
        await self._rpc.execute("sale.sale", "draft", [sale_id])
        change: list[Any]
        if found and not settled:
            # Nothing left to adjust: the sale looks as creating it would have made it.
            change = ["delete", [line["id"] for line in found]]
        elif found:
            price = found[0]["unit_price"] + settled - held
            change = ["write", [found[0]["id"]], {"unit_price": price}]
        else:
            line = PricedLine(
                product=code,
                quantity=1,
                unit_price=settled,
                taxes=(),
                description=adjustment_description(draft),
                charge="adjustment",
            )
            change = ["create", [sale_line(line, await self.adjustment_product(products))]]
        await self._rpc.execute("sale.sale", "write", [sale_id], {"lines": [change]})
        await self._rpc.execute("sale.sale", "quote", [sale_id])
        [row] = await self._rpc.execute("sale.sale", "read", [sale_id], fields)
        row["adjustment"] = settled
        if row["total_amount"] != expected:
            raise ErpRejected(
                f"the ERP totals the order {row['total_amount']}, not {expected}",
                errors=[{"field": "expected_total", "message": "the ERP's total differs"}],
            )
        return dict(row)

    async def adjustment_product(
        self, products: Mapping[str, CachedProduct] | None = None
    ) -> CachedProduct:
        """The adjustment product (from ``products`` when there); ErpRejected if not salable."""
        code = self._charges.adjustment
        if products is None or code not in products:
            products = await self._catalogue.resolve_skus([code])
        product = products.get(code)
        if product is None or not product.salable:
            raise ErpRejected(
                f"the ERP has no salable product {code} for the order's adjustment",
                errors=[{"field": "charges", "message": f"no salable charge product {code!r}"}],
            )
        return product

    async def confirm_sales_order(self, order_id: str, draft: SalesOrderDraft) -> SalesOrder:
        """Complete a sale left unconfirmed by an interrupted posting of ``draft``: quote it
        (if a draft), check its total against ``draft.expected_total`` as creating does (the
        one adjustment line set to a rounding difference), confirm it; the sale as it then
        stands.

        A sale past quotation (confirmed, processing, done, cancelled) is left as it is.
        OrderNotFound if there is no such sale; ErpRejected if Tryton refuses a step or the
        sale's total differs from the channel's by more than rounding (the sale is then
        discarded, as when creating, so that posting again creates it afresh).
        """
        sale_id = parse_sale_id(order_id)
        row = await self._sale_row(sale_id, ["state"])
        if row["state"] in _UNFINISHED_STATES:
            try:
                await self._quote_and_check(sale_id, draft, quote=row["state"] == "draft")
                await self._rpc.execute("sale.sale", "confirm", [sale_id])
            except ErpRejected:
                await self._discard(sale_id)
                raise
        return await self.get_sales_order(order_id)

    async def _discard(self, sale_id: int) -> None:
        # The ERP refused to quote or confirm: leave no half-made sale carrying the reference.
        try:
            await self._rpc.execute("sale.sale", "draft", [sale_id])
            await self._rpc.execute("sale.sale", "delete", [sale_id])
        except ErpRejected:
            await self._rpc.execute("sale.sale", "cancel", [sale_id])

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        """Cancel a sale; OrderAlreadyShipped once a shipment is shipped or done.

        Tryton cancels draft and quoted sales directly (a confirmed one goes back to draft
        first). A processing sale can't be cancelled as such: its open shipments and
        invoices are cancelled, their moves and invoices marked ignored, and the sale
        processed, which closes it as done with nothing shipped or invoiced; this adapter
        reports that state as ``cancelled``. A paid invoice also blocks cancellation.
        """
        sale_id = parse_sale_id(order_id)
        row = await self._sale_row(
            sale_id,
            [
                "state",
                "shipment_state",
                "invoice_state",
                "comment",
                "shipments.state",
                "invoices.state",
                "lines.moves",
            ],
        )
        state = row["state"]
        if _cancelled(row):
            return await self.get_sales_order(order_id)
        shipments = row.get("shipments.") or []
        invoices = row.get("invoices.") or []
        if state == "done" or any(s["state"] in SHIPPED_STATES for s in shipments):
            raise OrderAlreadyShipped(f"sales order {sale_id} has shipped")
        if any(i["state"] == "paid" for i in invoices):
            raise OrderAlreadyShipped(f"sales order {sale_id} is invoiced and paid")
        if state == "confirmed":
            await self._rpc.execute("sale.sale", "draft", [sale_id])
            state = "draft"
        if state in ("draft", "quotation"):
            await self._rpc.execute("sale.sale", "cancel", [sale_id])
            return await self.get_sales_order(order_id)
        open_shipments = [s["id"] for s in shipments if s["state"] in _OPEN_SHIPMENT_STATES]
        if open_shipments:
            await self._rpc.execute("stock.shipment.out", "cancel", open_shipments)
        open_invoices = [i["id"] for i in invoices if i["state"] in _CANCELLABLE_INVOICE_STATES]
        if open_invoices:
            await self._rpc.execute("account.invoice", "cancel", open_invoices)
        line_writes: list[Any] = []
        for line in row.get("lines.") or []:
            if line.get("moves"):
                line_writes += [[line["id"]], {"moves_ignored": [["add", line["moves"]]]}]
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        note = f"Cancelled through Strata on {stamp}."
        values: dict[str, Any] = {
            "comment": f"{row['comment']}\n{note}" if row.get("comment") else note,
        }
        if invoices:
            values["invoices_ignored"] = [["add", [i["id"] for i in invoices]]]
        if line_writes:
            values["lines"] = [["write", *line_writes]]
        await self._rpc.execute("sale.sale", "write", [sale_id], values)
        await self._rpc.execute("sale.sale", "process", [sale_id])
        return await self.get_sales_order(order_id)


# -- Tryton rows to canonical models ---------------------------------------------------------


def _cancelled(row: Row) -> bool:
    # A processing sale cancelled through this adapter ends "done" with nothing shipped
    # or invoiced; a genuinely finished sale has shipment state "sent".
    state = row["state"]
    return state == "cancelled" or (
        state == "done"
        and row.get("shipment_state") == "none"
        and row.get("invoice_state") == "none"
    )


def _sales_order(row: Row, charges: ChargeProducts) -> SalesOrder:
    currency = (row.get("currency.") or {}).get("code") or "XXX"
    unit = minor_unit(currency) if len(currency) == 3 else Decimal("0.01")
    lines: list[OrderLine] = []
    order_charges: list[OrderCharge] = []
    adjustment = Decimal(0)
    for line in row.get("lines.") or []:
        if line.get("type") != "line" or not line.get("product."):
            continue
        code = (line.get("product.") or {}).get("code") or ""
        price = line.get("unit_price") or Decimal(0)
        kind = charges.kind_of(code)
        if kind == "adjustment":
            adjustment += price * quantity(line.get("quantity"))
            continue
        if kind is not None or price < 0:
            priced = PricedLine(
                product=code,
                quantity=round(line.get("quantity") or 0),
                unit_price=price,
                taxes=(),
                description=line.get("description") or "",
            )
            order_charges.append(_charge(kind or ChargeKind.DISCOUNT.value, priced, unit))
            continue
        lines.append(
            OrderLine(
                sku=code,
                quantity=round(line.get("quantity") or 0),
                unit_price=price,
                description=line.get("description"),
                kind=LineKind.GIFT_CARD if code == charges.gift_card else LineKind.PRODUCT,
            )
        )
    contact = (row.get("contact.") or {}).get("value")
    email = contact or (row.get("party.") or {}).get("email")
    status = OrderStatus.CANCELLED if _cancelled(row) else _STATUS[row["state"]]
    untaxed, tax = row.get("untaxed_amount"), row.get("tax_amount")
    return SalesOrder(
        id=str(row["id"]),
        number=row.get("number"),
        external_reference=row.get("reference") or "",
        status=status,
        currency=currency,
        customer_email=email,
        lines=lines,
        total=Money(amount=row.get("total_amount") or Decimal(0), currency=currency),
        created_at=utc(row.get("create_date")),
        shipped=row.get("shipment_state") in ("sent", "partially shipped"),
        untaxed=Money(amount=untaxed, currency=currency) if untaxed is not None else None,
        tax=Money(amount=tax, currency=currency) if tax is not None else None,
        charges=order_charges,
        adjustment=Money(amount=adjustment.quantize(unit), currency=currency)
        if adjustment
        else None,
    )


def _charge(kind: str, line: PricedLine, unit: Decimal) -> OrderCharge:
    amount = tryton_amount(line, unit)
    return OrderCharge(
        kind=ChargeKind(kind),
        amount=abs(amount),
        title=line.description,
    )


def _description(draft: SalesOrderDraft) -> str:
    """The sale's description: the buyer's purchase order first, where there is one (Tryton's
    sale has no field of its own for it; ``reference`` holds the channel's reference)."""
    text = f"{draft.channel} order {draft.external_reference}"
    if draft.purchase_order_number:
        text = f"PO {draft.purchase_order_number} · {text}"
    return text[:128]


def _comment(draft: SalesOrderDraft) -> str:
    """What else the ERP's users need to know of the order, one fact a line."""
    facts = [draft.note] if draft.note else []
    if draft.company_name:
        facts.append(f"Company: {draft.company_name}")
    if draft.purchase_order_number:
        facts.append(f"Purchase order: {draft.purchase_order_number}")
    if draft.payment_terms:
        facts.append(f"Payment terms: {draft.payment_terms}")
    if draft.source.value != "web":
        facts.append(f"Source: {draft.source.value}")
    if draft.discount_codes:
        facts.append(f"Discount codes: {', '.join(draft.discount_codes)}")
    if draft.presentment_currency and draft.presentment_total is not None:
        facts.append(f"Buyer's total: {draft.presentment_total} {draft.presentment_currency}")
    if "gift_card" in draft.payment_gateways:
        facts.append("Paid in part or whole with a gift card")
    if draft.taxes_included:
        facts.append("Prices included taxes; posted net of the channel's tax amounts")
    return "\n".join(facts)


def _utc_date(value: dt.datetime) -> dt.date:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.date()
