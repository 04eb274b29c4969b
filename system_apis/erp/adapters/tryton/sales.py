"""Sales orders in Tryton: create (quote and confirm), find by reference, read, cancel.

A sale is built from ids the catalogue and the customers cache: when the ERP refuses a sale
built from cached ids, they are looked up again and the sale posted once more.

A channel's order is posted so that the sale's total equals the channel's (Shopify's
``current_total_price``) to the minor unit: lines at their discounted net unit price with
their taxes, charges (shipping, duties, tips, fees, unallocated discounts) on non-stock
products, and, where Tryton's arithmetic can't reproduce the channel's, one adjustment line
named as such. See :func:`price_sale`.

Creating, quoting and confirming are three requests. A timeout or crash between them leaves
a draft or a quotation carrying the order's reference: :meth:`SalesOrders.find_sales_order`
reports it as such (status ``draft`` or ``quoted``) and
:meth:`SalesOrders.confirm_sales_order` completes that same sale.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import msgspec

from shared.models import (
    ChargeKind,
    LineKind,
    Money,
    OrderCharge,
    OrderLine,
    OrderStatus,
    SalesOrder,
    SalesOrderDraft,
    TaxLine,
    minor_unit,
)
from system_apis.erp.adapters.tryton.catalogue import CachedProduct, Catalogue
from system_apis.erp.adapters.tryton.parties import Customers
from system_apis.erp.adapters.tryton.rows import (
    SHIPPED_STATES,
    Row,
    parse_sale_id,
    quantity,
    utc,
)
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.adapters.tryton_settings import TrytonSettings
from system_apis.erp.port import ErpRejected, OrderAlreadyShipped, OrderNotFound, UnknownSku

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
# Tryton keeps unit prices to this many places (``[product] price_decimal``, default 4).
PRICE_PLACES = 4
_PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
# Prices tried either side of a line's exact unit price (a yen spans 10,000 of them).
_MAX_FIT_STEPS = 5_000


class _StaleCache(Exception):
    """The ERP refused a sale built from cached ids; carries the refusal."""

    def __init__(self, rejection: ErpRejected) -> None:
        super().__init__(str(rejection))
        self.rejection = rejection


class SalesOrders:
    """Tryton sales as canonical sales orders, with currency ids cached."""

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
        self._currencies: dict[str, int] = {}
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
        charge_codes = {self._charges.for_charge(charge.kind) for charge in draft.charges}
        if any(line.kind is LineKind.GIFT_CARD for line in draft.lines):
            charge_codes.add(self._charges.gift_card)
        if draft.expected_total is not None:
            charge_codes.add(self._charges.adjustment)
        skus = [line.sku for line in draft.lines if line.kind is not LineKind.GIFT_CARD]
        rates = {t.rate.normalize() for line in draft.lines for t in line.taxes} | {
            t.rate.normalize() for charge in draft.charges for t in charge.taxes
        }
        products, currency, warehouse, parties, taxes, payment_term = await asyncio.gather(
            self._catalogue.resolve_skus([*skus, *sorted(charge_codes)]),
            self._currency_id(draft.currency),
            self._catalogue.warehouse_id(self._settings.warehouse_code),
            self._customers.parties_for(
                draft.customer.email, cached=cached, company=draft.company_name
            ),
            self._master.taxes(rates) if rates else _no_taxes(),
            self._master.payment_term(draft.payment_terms) if draft.payment_terms else _none(),
        )
        errors = [
            {"field": f"lines[{i}].sku", "message": f"unknown SKU {line.sku!r}"}
            if line.sku not in products
            else {"field": f"lines[{i}].sku", "message": f"SKU {line.sku!r} is not for sale"}
            for i, line in enumerate(draft.lines)
            if line.kind is not LineKind.GIFT_CARD
            and (line.sku not in products or not products[line.sku].salable)
        ]
        if errors:
            raise UnknownSku("; ".join(e["message"] for e in errors), errors=errors)
        missing = sorted(c for c in charge_codes if c not in products or not products[c].salable)
        if missing:
            raise ErpRejected(
                f"the ERP has no salable product {', '.join(missing)} for the order's charges",
                errors=[
                    {"field": "charges", "message": f"no salable charge product {code!r}"}
                    for code in missing
                ],
            )
        limit = self._settings.max_adjustment_minor_units * minor_unit(draft.currency)
        priced = price_sale(draft, taxes, self._charges, max_adjustment=limit)
        lines = [self._sale_line(line, products) for line in priced.lines]
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
        row = await self._quote_and_check(sale_id, draft, priced, products)
        try:
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

    async def _quote_and_check(
        self,
        sale_id: int,
        draft: SalesOrderDraft,
        priced: PricedSale,
        products: Mapping[str, CachedProduct],
    ) -> Row:
        """Quote the new sale and read its number and totals; when its total is not the
        channel's after all (Tryton computed otherwise than :func:`price_sale` replays),
        bring it back to draft, set the one adjustment line to the difference, quote again."""
        fields = ["number", "create_date", "untaxed_amount", "tax_amount", "total_amount"]
        try:
            await self._rpc.execute("sale.sale", "quote", [sale_id])
            [row] = await self._rpc.execute("sale.sale", "read", [sale_id], fields)
            row["adjustment"] = priced.adjustment
            expected = draft.expected_total
            if expected is None or row["total_amount"] == expected:
                return dict(row)
            difference = expected - row["total_amount"]
            await self._rpc.execute("sale.sale", "draft", [sale_id])
            adjustment = _adjustment_line(priced)
            if adjustment is None:
                line = PricedLine(
                    product=self._charges.adjustment,
                    quantity=1,
                    unit_price=difference,
                    taxes=(),
                    description=f"Rounding adjustment vs {_channel_name(draft)} total",
                    charge="adjustment",
                )
                change: list[Any] = ["create", [self._sale_line(line, products)]]
            else:
                [existing] = await self._rpc.execute(
                    "sale.line",
                    "search",
                    [("sale", "=", sale_id), ("product.code", "=", self._charges.adjustment)],
                )
                price = adjustment.unit_price + difference
                change = ["write", [existing], {"unit_price": price}]
            await self._rpc.execute("sale.sale", "write", [sale_id], {"lines": [change]})
            await self._rpc.execute("sale.sale", "quote", [sale_id])
            [row] = await self._rpc.execute("sale.sale", "read", [sale_id], fields)
            row["adjustment"] = priced.adjustment + difference
            if row["total_amount"] != expected:
                raise ErpRejected(
                    f"the ERP totals the order {row['total_amount']}, not {expected}",
                    errors=[{"field": "expected_total", "message": "the ERP's total differs"}],
                )
            return dict(row)
        except ErpRejected:
            await self._discard(sale_id)
            raise

    async def _quote_and_confirm(self, sale_id: int, state: str) -> None:
        try:
            if state == "draft":
                await self._rpc.execute("sale.sale", "quote", [sale_id])
            await self._rpc.execute("sale.sale", "confirm", [sale_id])
        except ErpRejected:
            await self._discard(sale_id)
            raise

    async def confirm_sales_order(self, order_id: str) -> SalesOrder:
        """Quote (if a draft) and confirm a sale left unconfirmed; the sale as it then stands.

        A sale past quotation (confirmed, processing, done, cancelled) is left as it is.
        Created in one transaction with its lines by the interrupted posting, the sale needs
        nothing more than the two steps it missed. OrderNotFound if there is no such sale;
        ErpRejected if Tryton refuses a step (the sale is then discarded, as when creating).
        """
        sale_id = parse_sale_id(order_id)
        row = await self._sale_row(sale_id, ["state"])
        if row["state"] in _UNFINISHED_STATES:
            await self._quote_and_confirm(sale_id, row["state"])
        return await self.get_sales_order(order_id)

    def _sale_line(self, line: PricedLine, products: Mapping[str, CachedProduct]) -> Row:
        product = products[line.product]
        values: Row = {
            "type": "line",
            "product": product.id,
            "quantity": float(line.quantity),
            "unit": product.unit,
            "unit_price": line.unit_price,
            "description": line.description or product.name,
        }
        if line.taxes:
            values["taxes"] = [["add", [tax.id for tax in line.taxes]]]
        return values

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

    async def _currency_id(self, code: str) -> int:
        if code not in self._currencies:
            rows = await self._rpc.execute(
                "currency.currency", "search_read", [], 0, None, None, ["code"]
            )
            self._currencies = {row["code"]: row["id"] for row in rows}
        try:
            return self._currencies[code]
        except KeyError:
            raise ErpRejected(
                f"the ERP does not know the currency {code}",
                errors=[{"field": "currency", "message": f"unknown currency {code}"}],
            ) from None


# -- Pricing: the channel's order as Tryton lines whose total is the channel's ---------------


class SaleTax(msgspec.Struct, frozen=True):
    """A Tryton sales tax (``account.tax``, percentage) as a sale line needs it."""

    id: int
    rate: Decimal
    name: str


class PricedLine(msgspec.Struct, frozen=True, kw_only=True):
    """One sale line to post: ``product`` is a SKU (catalogue or charge product)."""

    product: str
    quantity: int
    unit_price: Decimal
    taxes: tuple[SaleTax, ...]
    description: str
    # The canonical line this comes from, or the charge's kind ("adjustment" for the one
    # line that makes the total equal the channel's).
    line: int | None = None
    charge: str | None = None


class PricedSale(msgspec.Struct, frozen=True, kw_only=True):
    """The lines to post and the totals Tryton will compute from them."""

    lines: list[PricedLine]
    untaxed: Decimal
    tax: Decimal
    adjustment: Decimal

    @property
    def total(self) -> Decimal:
        """What Tryton's ``total_amount`` will be."""
        return self.untaxed + self.tax


class ChargeProducts(msgspec.Struct, frozen=True, kw_only=True):
    """The codes of the non-stock products charges and special lines post on."""

    shipping: str = "SHIPPING"
    discount: str = "DISCOUNT"
    duty: str = "DUTY"
    tip: str = "TIP"
    fee: str = "FEE"
    gift_card: str = "GIFT-CARD"
    adjustment: str = "ADJUSTMENT"

    def for_charge(self, kind: ChargeKind) -> str:
        """The product code of charges of ``kind``."""
        code: str = getattr(self, kind.value)
        return code

    def kind_of(self, code: str) -> str | None:
        """The charge kind (or ``adjustment``) posted on product ``code``, if any."""
        for kind in (*ChargeKind, "adjustment"):
            name = kind.value if isinstance(kind, ChargeKind) else kind
            if getattr(self, name) == code:
                return name
        return None


def charge_products(settings: TrytonSettings) -> ChargeProducts:
    """The charge products the adapter's settings name."""
    return ChargeProducts(
        shipping=settings.shipping_product,
        discount=settings.discount_product,
        duty=settings.duty_product,
        tip=settings.tip_product,
        fee=settings.fee_product,
        gift_card=settings.gift_card_product,
        adjustment=settings.adjustment_product,
    )


def price_sale(
    draft: SalesOrderDraft,
    taxes: Mapping[Decimal, Sequence[SaleTax]],
    products: ChargeProducts,
    *,
    max_adjustment: Decimal | None = None,
) -> PricedSale:
    """The sale lines for ``draft`` and the totals Tryton will compute for them.

    Each line is posted at its discounted net unit price (discounts folded in, as Tryton's
    own Shopify connector does, so each line's tax base is the channel's and per-line tax
    rounding lands on the channel's tax), to Tryton's four places; taxes included in a
    price are taken out using the channel's own tax amounts. Charges post on their non-stock
    products, an unallocated order discount at a negative price. Where Tryton's arithmetic
    (replayed here: amounts and each line's taxes rounded half-even to the currency) does
    not reach ``draft.expected_total``, one adjustment line carries the difference; beyond
    ``max_adjustment`` the order is refused (ErpRejected) rather than adjusted. Each tax rate
    must match a Tryton tax (ErpRejected naming the rate otherwise).
    """
    lines: list[PricedLine] = []
    errors: list[dict[str, str]] = []
    unit = minor_unit(draft.currency)

    def tryton_taxes(field: str, rates: Sequence[TaxLine]) -> tuple[SaleTax, ...]:
        chosen: list[SaleTax] = []
        for i, tax in enumerate(rates):
            percent = f"{(tax.rate * 100).normalize():f} %"
            candidates = [t for t in taxes.get(tax.rate.normalize(), ()) if t not in chosen]
            if not candidates:
                errors.append(
                    {
                        "field": f"{field}.taxes[{i}].rate",
                        "message": f"the ERP has no sales tax at rate {tax.rate} "
                        f"({percent}{', ' + tax.title if tax.title else ''})",
                    }
                )
                continue
            named = [
                t for t in candidates if tax.title and tax.title.casefold() in t.name.casefold()
            ]
            chosen.append((named or candidates)[0])
        return tuple(sorted(chosen, key=lambda t: t.id))

    for i, line in enumerate(draft.lines):
        net = line.unit_price * line.quantity - line.discount_total
        if draft.taxes_included:
            net -= line.tax_total
        gift_card = line.kind is LineKind.GIFT_CARD
        description = line.description or line.sku
        if line.discounts:
            titles = ", ".join(sorted({d.title for d in line.discounts if d.title}))
            description += f" (less {line.discount_total}{' ' + titles if titles else ''})"
        # A gift card sold is money owed, not a supply: never taxed.
        line_taxes = () if gift_card else tryton_taxes(f"lines[{i}]", line.taxes)
        lines.append(
            PricedLine(
                product=products.gift_card if gift_card else line.sku,
                quantity=line.quantity,
                unit_price=fit_unit_price(
                    net, line.quantity, line_taxes, None if gift_card else line.tax_total, unit
                ),
                taxes=line_taxes,
                description=description,
                line=i,
            )
        )
    for i, charge in enumerate(draft.charges):
        net = charge.amount - charge.discount_total
        if draft.taxes_included:
            net -= charge.tax_total
        if charge.kind is ChargeKind.DISCOUNT:
            net = -net
        description = charge.title or charge.kind.value.capitalize()
        if charge.discounts:
            description += f" (less {charge.discount_total})"
        charge_taxes = tryton_taxes(f"charges[{i}]", charge.taxes)
        tax_total = -charge.tax_total if charge.kind is ChargeKind.DISCOUNT else charge.tax_total
        lines.append(
            PricedLine(
                product=products.for_charge(charge.kind),
                quantity=1,
                unit_price=fit_unit_price(net, 1, charge_taxes, tax_total, unit),
                taxes=charge_taxes,
                description=description,
                charge=charge.kind.value,
            )
        )
    if errors:
        raise ErpRejected("; ".join(e["message"] for e in errors), errors=errors)
    untaxed = sum((tryton_amount(line, unit) for line in lines), Decimal(0))
    tax = sum((sum(tryton_line_taxes(line, unit), Decimal(0)) for line in lines), Decimal(0))
    adjustment = Decimal(0)
    if draft.expected_total is not None:
        adjustment = draft.expected_total - (untaxed + tax)
        if max_adjustment is not None and abs(adjustment) > max_adjustment:
            raise ErpRejected(
                f"the order's lines, charges and taxes come to {untaxed + tax} "
                f"{draft.currency}, not the channel's total of {draft.expected_total}: "
                f"a difference of {adjustment} is more than rounding",
                errors=[
                    {
                        "field": "expected_total",
                        "message": f"{draft.expected_total} differs from the sum of the "
                        f"order's parts ({untaxed + tax}) by {adjustment}",
                    }
                ],
            )
    if adjustment:
        lines.append(
            PricedLine(
                product=products.adjustment,
                quantity=1,
                unit_price=adjustment,
                taxes=(),
                description=f"Rounding adjustment vs {_channel_name(draft)} total",
                charge="adjustment",
            )
        )
        untaxed += adjustment
    return PricedSale(lines=lines, untaxed=untaxed, tax=tax, adjustment=adjustment)


def fit_unit_price(
    net: Decimal,
    quantity: int,
    taxes: tuple[SaleTax, ...],
    tax_total: Decimal | None,
    unit: Decimal,
) -> Decimal:
    """The unit price (Tryton's four places) nearest ``net / quantity`` for which Tryton's
    amount is ``net`` and its taxes sum to ``tax_total`` (the channel's), when one exists.

    The channel takes taxes out of a tax-included price (or rounds half up) where Tryton adds
    them to a net price (half-even): at four places there is usually a price on which both
    agree. Failing one, the nearest price is posted and the adjustment line takes the rest.
    """
    exact = (net / quantity).quantize(_PRICE_QUANTUM, ROUND_HALF_EVEN)
    # Prices whose amount rounds to ``net``: within half a minor unit of it, over quantity.
    reach = int((unit / 2 / quantity / _PRICE_QUANTUM).to_integral_value()) + 1
    for step in range(min(reach, _MAX_FIT_STEPS) + 1):
        for price in {exact + step * _PRICE_QUANTUM, exact - step * _PRICE_QUANTUM}:
            line = PricedLine(
                product="", quantity=quantity, unit_price=price, taxes=taxes, description=""
            )
            if tryton_amount(line, unit) != net:
                continue
            if tax_total is None or sum(tryton_line_taxes(line, unit), Decimal(0)) == tax_total:
                return price
    return exact


def tryton_amount(line: PricedLine, unit: Decimal) -> Decimal:
    """A sale line's amount as Tryton computes it: quantity times price, currency-rounded."""
    return (Decimal(line.quantity) * line.unit_price).quantize(unit, ROUND_HALF_EVEN)


def tryton_line_taxes(line: PricedLine, unit: Decimal) -> list[Decimal]:
    """A sale line's taxes as Tryton computes them with ``tax_rounding = line``: each tax of
    the unit price times the quantity, rounded half-even, the rounding remainder of the
    line's taxes given back one minor unit at a time (``TaxableMixin._round_taxes``)."""
    raw = [line.unit_price * tax.rate * Decimal(line.quantity) for tax in line.taxes]
    rounded = [amount.quantize(unit, ROUND_HALF_EVEN) for amount in raw]
    remainder = sum((r - a for r, a in zip(rounded, raw, strict=True)), Decimal(0))
    remainder = remainder.quantize(unit, ROUND_HALF_EVEN)
    if abs(remainder) >= unit:
        offset = unit.copy_sign(remainder)
        for i in itertools.islice(itertools.cycle(range(len(rounded))), 4 * len(rounded)):
            if rounded[i]:
                rounded[i] -= offset
                remainder -= offset
                if abs(remainder) < unit:
                    break
    return rounded


def _channel_name(draft: SalesOrderDraft) -> str:
    return "Shopify" if draft.channel == "shopify" else draft.channel


class SalesMasterData:
    """Sales taxes by rate and payment terms by name, read once and cached."""

    def __init__(self, rpc: TrytonRpc, settings: TrytonSettings) -> None:
        """Read through ``rpc``; keep for ``settings.master_data_cache_seconds``."""
        self._rpc = rpc
        self._ttl = settings.master_data_cache_seconds
        self._taxes: dict[Decimal, list[SaleTax]] = {}
        self._taxes_expire = 0.0
        self._terms: dict[str, int] = {}
        self._terms_expire = 0.0

    async def taxes(self, rates: set[Decimal]) -> dict[Decimal, list[SaleTax]]:
        """Tryton's sales taxes by rate; read again when stale or a wanted rate is missing."""
        now = time.monotonic()
        if now >= self._taxes_expire or not rates <= set(self._taxes):
            rows = await self._rpc.execute(
                "account.tax",
                "search_read",
                [("type", "=", "percentage"), ("parent", "=", None)],
                0,
                None,
                [("sequence", "ASC"), ("id", "ASC")],
                ["rate", "name"],
            )
            taxes: dict[Decimal, list[SaleTax]] = {}
            for row in rows:
                rate = Decimal(row["rate"]).normalize()
                taxes.setdefault(rate, []).append(SaleTax(row["id"], rate, row["name"]))
            self._taxes, self._taxes_expire = taxes, now + self._ttl
        return self._taxes

    async def payment_term(self, name: str) -> int:
        """The id of payment term ``name`` (case-insensitive); ErpRejected naming it if none."""
        now = time.monotonic()
        key = name.casefold()
        if now >= self._terms_expire or key not in self._terms:
            rows = await self._rpc.execute(
                "account.invoice.payment_term", "search_read", [], 0, None, None, ["name"]
            )
            self._terms = {row["name"].casefold(): row["id"] for row in rows}
            self._terms_expire = now + self._ttl
        try:
            return self._terms[key]
        except KeyError:
            raise ErpRejected(
                f"the ERP has no payment term {name!r}",
                errors=[{"field": "payment_terms", "message": f"unknown payment term {name!r}"}],
            ) from None


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


def _adjustment_line(priced: PricedSale) -> PricedLine | None:
    return next((line for line in priced.lines if line.charge == "adjustment"), None)


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


async def _no_taxes() -> dict[Decimal, list[SaleTax]]:
    return {}


async def _none() -> None:
    return None


def _utc_date(value: dt.datetime) -> dt.date:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.date()
