"""The Tryton adapter of the ERP port: canonical models in, canonical models out.

Tryton's shapes (ids, states, dotted reads, one2many actions) stay in this module. Each
operation uses as few JSON-RPC calls as it can: SKU, warehouse, currency and country ids are
cached, independent reads run concurrently, and one login session serves every call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import httpx
import msgspec

from shared.models import (
    Address,
    CreditNote,
    Customer,
    Invoice,
    InvoiceLine,
    Money,
    OrderLine,
    OrderStatus,
    Product,
    SalesOrder,
    SalesOrderDraft,
    Shipment,
    ShipmentLine,
    StockLevel,
    Variant,
)
from shared.problems import StrataError
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.adapters.tryton_settings import TrytonSettings
from system_apis.erp.port import ErpRejected, OrderAlreadyShipped, OrderNotFound, UnknownSku

__all__ = ["TrytonAdapter", "TrytonSettings"]

Row = dict[str, Any]

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
    "lines.type",
    "lines.product.code",
    "lines.quantity",
    "lines.unit_price",
    "lines.description",
]
_PRODUCT_FIELDS = [
    "name",
    "create_date",
    "write_date",
    "products.code",
    "products.description",
    "products.list_price_used",
    "products.active",
    "products.create_date",
    "products.write_date",
]
_CUSTOMER_FIELDS = [
    "name",
    "contact_mechanisms.type",
    "contact_mechanisms.value",
    "addresses.party_name",
    "addresses.street",
    "addresses.city",
    "addresses.postal_code",
    "addresses.country.code",
]
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
_SHIPMENT_FIELDS = ["number", "state", "create_date", "write_date"]
# Goods leaving for the customer, and goods coming back: one move per line and SKU.
_OUT_MOVES, _RETURN_MOVES = "outgoing_moves", "incoming_moves"
_STATUS = {
    "draft": OrderStatus.DRAFT,
    "quotation": OrderStatus.QUOTED,
    "confirmed": OrderStatus.CONFIRMED,
    "processing": OrderStatus.PROCESSING,
    "done": OrderStatus.DONE,
    "cancelled": OrderStatus.CANCELLED,
}
_SHIPPED_STATES = frozenset({"shipped", "done"})
_OPEN_SHIPMENT_STATES = frozenset({"draft", "waiting", "assigned", "picked", "packed"})
_CANCELLABLE_INVOICE_STATES = frozenset({"draft", "validated", "posted"})


class _CachedProduct(msgspec.Struct, frozen=True):
    id: int
    unit: int
    name: str
    salable: bool
    expires: float


class _StaleCache(Exception):
    """The ERP refused a sale built from cached ids; carries the refusal."""

    def __init__(self, rejection: ErpRejected) -> None:
        super().__init__(str(rejection))
        self.rejection = rejection


class _SaleParty(msgspec.Struct, frozen=True, kw_only=True):
    party: int
    contact: int | None
    email: str
    invoice_address: int
    shipment_address: int


# Customers remembered by email for repeat orders (the oldest is dropped beyond this).
_CUSTOMER_CACHE_SIZE = 10_000
_PARTY_CREATE_ATTEMPTS = 3


class TrytonAdapter:
    """:class:`system_apis.erp.port.ErpPort` on one Tryton database over JSON-RPC."""

    def __init__(
        self, client: httpx.AsyncClient, settings: TrytonSettings, *, close_client: bool = True
    ) -> None:
        """``close_client=False`` leaves the client open on :meth:`aclose` (shared clients)."""
        self._client = client
        self._close_client = close_client
        self._settings = settings
        self._rpc = TrytonRpc(
            client,
            url=settings.url,
            database=settings.database,
            user=settings.user,
            password=settings.password,
            timeout=settings.timeout,
            retry_after=settings.retry_after,
        )
        self._products: dict[str, _CachedProduct] = {}
        self._parties: dict[str, tuple[float, list[Row]]] = {}
        self._warehouses: dict[str, int] = {}
        self._currencies: dict[str, int] = {}
        self._countries: dict[str, int] = {}
        self._company_currency: str | None = None
        self._party_lock = asyncio.Lock()

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
        """Salable products (Tryton templates) by id, with variants priced by list price.

        ``updated_since`` keeps templates created or written since then, or whose variants
        were; the flag says whether another page follows.
        """
        domain: list[Any] = [("salable", "=", True)]
        if updated_since is not None:
            domain.append(
                [
                    "OR",
                    ("write_date", ">=", updated_since),
                    ("create_date", ">=", updated_since),
                    ("products.write_date", ">=", updated_since),
                    ("products.create_date", ">=", updated_since),
                ]
            )
        rows, currency = await asyncio.gather(
            self._rpc.execute(
                "product.template",
                "search_read",
                domain,
                offset,
                limit + 1,
                [("id", "ASC")],
                _PRODUCT_FIELDS,
            ),
            self._currency_of_company(),
        )
        more = len(rows) > limit
        return [self._product(row, currency) for row in rows[:limit]], more

    async def get_variant_product(self, sku: str) -> Product:
        """The product holding variant ``sku``; UnknownSku if no product has it."""
        rows, currency = await asyncio.gather(
            self._rpc.execute(
                "product.template",
                "search_read",
                [("products.code", "=", sku)],
                0,
                1,
                None,
                _PRODUCT_FIELDS,
            ),
            self._currency_of_company(),
        )
        if not rows:
            raise UnknownSku(
                f"no product has the SKU {sku!r}",
                errors=[{"field": "sku", "message": f"unknown SKU {sku!r}"}],
            )
        return self._product(rows[0], currency)

    def _product(self, row: Row, currency: str) -> Product:
        variants = []
        updated = _utc(row.get("write_date") or row.get("create_date"))
        for variant in row.get("products.") or []:
            code = variant.get("code")
            if not code:
                continue
            variants.append(
                Variant(
                    sku=code,
                    name=variant.get("description") or row["name"],
                    price=Money(
                        amount=variant.get("list_price_used") or Decimal(0), currency=currency
                    ),
                    active=bool(variant.get("active", True)),
                )
            )
            changed = _utc(variant.get("write_date") or variant.get("create_date"))
            if changed is not None and (updated is None or changed > updated):
                updated = changed
        return Product(id=str(row["id"]), name=row["name"], variants=variants, updated_at=updated)

    # -- stock ----------------------------------------------------------------------------

    async def stock_levels(self, skus: list[str], warehouse: str | None) -> list[StockLevel]:
        """On-hand and forecast stock per SKU in warehouse ``warehouse`` (all when None).

        ``on_hand`` is Tryton's ``quantity`` (moves done up to today) and ``forecast`` its
        ``forecast_quantity`` (planned moves included, so confirmed sales are deducted).
        ``available`` is ``min(on_hand, forecast)`` floored at zero: stock that is on the
        shelf and not promised to an order yet. SKUs the ERP does not know are left out.
        """
        if not skus:
            return []
        warehouses = await self._warehouse_ids(warehouse)
        products = await self._resolve_skus(skus)
        known = {sku: products[sku].id for sku in dict.fromkeys(skus) if sku in products}
        if not known:
            return []
        ids = list(known.values())
        if len(warehouses) == 1:
            # The usual case: one read, no task to schedule.
            reads = [await self._stock_read(ids, next(iter(warehouses.values())))]
        else:
            reads = await asyncio.gather(
                *(self._stock_read(ids, location) for location in warehouses.values())
            )
        levels = []
        for code, rows in zip(warehouses, reads, strict=True):
            by_id = {row["id"]: row for row in rows}
            for sku, product_id in known.items():
                row = by_id.get(product_id)
                if row is None:
                    continue
                on_hand = _quantity(row.get("quantity"))
                forecast = _quantity(row.get("forecast_quantity"))
                levels.append(
                    StockLevel(
                        sku=sku,
                        warehouse=code,
                        on_hand=on_hand,
                        forecast=forecast,
                        available=max(min(on_hand, forecast), Decimal(0)),
                    )
                )
        return levels

    async def _stock_read(self, ids: list[int], location: int) -> list[Row]:
        rows: list[Row] = await self._rpc.execute(
            "product.product",
            "read",
            ids,
            ["quantity", "forecast_quantity"],
            context={"locations": [location]},
        )
        return rows

    # -- customers ------------------------------------------------------------------------

    async def find_customers(self, email: str) -> list[Customer]:
        """Parties with an email contact equal to ``email`` (case-insensitive)."""
        rows = await self._parties_by_email(email)
        return [_customer(row, email) for row in rows]

    async def _parties_by_email(self, email: str) -> list[Row]:
        domain = [
            (
                "contact_mechanisms",
                "where",
                [("type", "=", "email"), ("value", "ilike", _like_literal(email))],
            )
        ]
        rows: list[Row] = await self._rpc.execute(
            "party.party",
            "search_read",
            domain,
            0,
            20,
            [("id", "ASC")],
            [*_CUSTOMER_FIELDS, "addresses", "contact_mechanisms"],
        )
        return rows

    # -- sales orders ---------------------------------------------------------------------

    async def find_sales_order(self, external_reference: str) -> SalesOrder | None:
        """The first sale carrying ``external_reference`` (its return sales aside)."""
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
        return _sales_order(rows[0]) if rows else None

    async def get_sales_order(self, order_id: str) -> SalesOrder:
        """The sale with Tryton id ``order_id``; OrderNotFound if none."""
        return _sales_order(await self._sale_row(_sale_id(order_id), _SALE_FIELDS))

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
        held = self._parties.pop(draft.customer.email.casefold(), None) is not None
        for line in draft.lines:
            held = self._products.pop(line.sku, None) is not None or held
        return held

    async def _post_sale(self, draft: SalesOrderDraft, *, cached: bool) -> SalesOrder:
        products, currency, warehouse, parties = await asyncio.gather(
            self._resolve_skus([line.sku for line in draft.lines]),
            self._currency_id(draft.currency),
            self._warehouse_id(self._settings.warehouse_code),
            self._parties_for(draft.customer.email, cached=cached),
        )
        errors = [
            {"field": f"lines[{i}].sku", "message": f"unknown SKU {line.sku!r}"}
            if line.sku not in products
            else {"field": f"lines[{i}].sku", "message": f"SKU {line.sku!r} is not for sale"}
            for i, line in enumerate(draft.lines)
            if line.sku not in products or not products[line.sku].salable
        ]
        if errors:
            raise UnknownSku("; ".join(e["message"] for e in errors), errors=errors)
        lines = [self._sale_line(line, products) for line in draft.lines]
        values: dict[str, Any] = {
            "company": self._rpc.context.get("company"),
            "currency": currency,
            "warehouse": warehouse,
            "reference": draft.external_reference,
            "description": f"{draft.channel} order {draft.external_reference}"[:128],
            "lines": [["create", lines]],
        }
        if draft.ordered_at is not None:
            values["sale_date"] = _utc_date(draft.ordered_at)
        if draft.note:
            values["comment"] = draft.note
        try:
            customer = await self._customer_party(draft, parties)
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
            await self._rpc.execute("sale.sale", "quote", [sale_id])
            # Then the read, not beside it: overlapped with the confirmation (the slow step)
            # the two contend inside Tryton, measured here at 296 ms for the sequence
            # against 284 ms one after the other.
            await self._rpc.execute("sale.sale", "confirm", [sale_id])
        except ErpRejected:
            await self._discard(sale_id)
            raise
        try:
            [row] = await self._rpc.execute(
                "sale.sale", "read", [sale_id], ["number", "create_date", "total_amount"]
            )
        except StrataError:
            # Confirmed already: the order stands; one more try at reading it (a retry of
            # the whole post finds it by its reference).
            return await self.get_sales_order(str(sale_id))
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
                    sku=line.sku,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    description=values_line["description"],
                )
                for line, values_line in zip(draft.lines, lines, strict=True)
            ],
            total=Money(amount=row.get("total_amount") or Decimal(0), currency=draft.currency),
            created_at=_utc(row.get("create_date")),
        )

    def _sale_line(self, line: OrderLine, products: Mapping[str, _CachedProduct]) -> Row:
        product = products[line.sku]
        return {
            "type": "line",
            "product": product.id,
            "quantity": float(line.quantity),
            "unit": product.unit,
            "unit_price": line.unit_price,
            "description": line.description or product.name,
        }

    async def _discard(self, sale_id: int) -> None:
        # The ERP refused to quote or confirm: leave no half-made sale carrying the reference.
        try:
            await self._rpc.execute("sale.sale", "draft", [sale_id])
            await self._rpc.execute("sale.sale", "delete", [sale_id])
        except ErpRejected:
            await self._rpc.execute("sale.sale", "cancel", [sale_id])

    async def _parties_for(self, email: str, *, cached: bool) -> list[Row]:
        """Parties by email, from the customer cache when allowed and fresh."""
        key = email.casefold()
        now = time.monotonic()
        entry = self._parties.get(key) if cached else None
        if entry is not None and entry[0] > now:
            return entry[1]
        rows = await self._parties_by_email(email)
        if rows and self._settings.customer_cache_seconds > 0:
            if len(self._parties) >= _CUSTOMER_CACHE_SIZE:
                self._parties.pop(next(iter(self._parties)))
            self._parties[key] = (now + self._settings.customer_cache_seconds, rows)
        return rows

    async def _customer_party(self, draft: SalesOrderDraft, parties: list[Row]) -> _SaleParty:
        """The party, email contact and addresses for the draft (created where missing)."""
        customer = draft.customer
        invoice_wanted = customer.addresses[0] if customer.addresses else draft.shipping_address
        shipment_wanted = draft.shipping_address or invoice_wanted
        if not parties:
            # One new customer at a time: Tryton numbers parties from a sequence, and on
            # SQLite two concurrent creations can draw the same code ("must be unique").
            async with self._party_lock:
                parties = await self._parties_by_email(customer.email)
                if not parties:
                    return await self._create_party_retrying(
                        customer, invoice_wanted, shipment_wanted
                    )
        party = parties[0]
        contact = _email_mechanism(party, customer.email)
        # The cached row's list: addresses added here are remembered for the next order.
        addresses = party.setdefault("addresses.", [])
        invoice = await self._address_for(party["id"], addresses, invoice_wanted)
        shipment = (
            invoice
            if shipment_wanted == invoice_wanted
            else await self._address_for(party["id"], addresses, shipment_wanted)
        )
        return _SaleParty(
            party=party["id"],
            contact=contact[0] if contact else None,
            email=contact[1] if contact else customer.email,
            invoice_address=invoice,
            shipment_address=shipment,
        )

    async def _address_for(
        self, party_id: int, addresses: list[Row], wanted: Address | None
    ) -> int:
        if wanted is None:
            if addresses:
                return int(addresses[0]["id"])
            wanted = Address()
        for row in addresses:
            if _same_address(row, wanted):
                return int(row["id"])
        values = await self._address_values(wanted)
        [address] = await self._rpc.execute(
            "party.address", "create", [{**values, "party": party_id}]
        )
        addresses.append(
            {
                **values,
                "id": address,
                "country.": {"code": wanted.country} if values["country"] else None,
            }
        )
        return int(address)

    async def _create_party_retrying(
        self, customer: Customer, invoice_wanted: Address | None, shipment_wanted: Address | None
    ) -> _SaleParty:
        """Create the party; retry a code collision with another replica's creation."""
        for attempt in range(_PARTY_CREATE_ATTEMPTS):
            try:
                return await self._create_party(customer, invoice_wanted, shipment_wanted)
            except ErpRejected as rejection:
                if "unique" not in str(rejection) or attempt == _PARTY_CREATE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _create_party(
        self, customer: Customer, invoice_wanted: Address | None, shipment_wanted: Address | None
    ) -> _SaleParty:
        mechanisms: list[Row] = [{"type": "email", "value": customer.email}]
        if customer.phone:
            mechanisms.append({"type": "phone", "value": customer.phone})
        wanted = [invoice_wanted or Address()]
        if shipment_wanted is not None and shipment_wanted != wanted[0]:
            wanted.append(shipment_wanted)
        addresses = [await self._address_values(address) for address in wanted]
        [party] = await self._rpc.execute(
            "party.party",
            "create",
            [
                {
                    "name": customer.name or customer.email,
                    "contact_mechanisms": [["create", mechanisms]],
                    "addresses": [["create", addresses]],
                }
            ],
        )
        [row] = await self._rpc.execute(
            "party.party", "read", [party], ["addresses", "contact_mechanisms"]
        )
        address_ids = sorted(row["addresses"])
        return _SaleParty(
            party=int(party),
            contact=min(row["contact_mechanisms"]) if row["contact_mechanisms"] else None,
            email=customer.email,
            invoice_address=address_ids[0],
            shipment_address=address_ids[-1],
        )

    async def _address_values(self, address: Address) -> Row:
        country = await self._country_id(address.country) if address.country else None
        return {
            "party_name": address.name or None,
            "street": address.street or None,
            "city": address.city or None,
            "postal_code": address.postal_code or None,
            "country": country,
        }

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        """Cancel a sale; OrderAlreadyShipped once a shipment is shipped or done.

        Tryton cancels draft and quoted sales directly (a confirmed one goes back to draft
        first). A processing sale can't be cancelled as such: its open shipments and
        invoices are cancelled, their moves and invoices marked ignored, and the sale
        processed, which closes it as done with nothing shipped or invoiced; this adapter
        reports that state as ``cancelled``. A paid invoice also blocks cancellation.
        """
        sale_id = _sale_id(order_id)
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
        if state == "done" or any(s["state"] in _SHIPPED_STATES for s in shipments):
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

    # -- documents ------------------------------------------------------------------------

    async def shipments(self, order_id: str) -> list[Shipment]:
        """Customer shipments of the sale, and return shipments of it or its return sales."""
        sale_id = _sale_id(order_id)
        from_sale = ("moves.origin.sale", "=", sale_id, "sale.line")
        from_returns = ("moves.origin.sale.origin", "=", f"sale.sale,{sale_id}", "sale.line")
        _, out, back = await asyncio.gather(
            self._require_sale(sale_id),
            self._rpc.execute(
                "stock.shipment.out",
                "search_read",
                [from_sale],
                0,
                None,
                [("id", "ASC")],
                [*_SHIPMENT_FIELDS, f"{_OUT_MOVES}.product.code", f"{_OUT_MOVES}.quantity"],
            ),
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
        return [_shipment(r, is_return=False) for r in out] + [
            _shipment(r, is_return=True) for r in back
        ]

    async def invoices(self, order_id: str) -> list[Invoice]:
        """Customer invoices of the sale (credit notes aside)."""
        sale_id = _sale_id(order_id)
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
        sale_id = _sale_id(order_id)
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

    # -- cached lookups -------------------------------------------------------------------

    async def _resolve_skus(self, skus: Iterable[str]) -> dict[str, _CachedProduct]:
        """Cached products by SKU; unknown SKUs are missing from the answer."""
        now = time.monotonic()
        found: dict[str, _CachedProduct] = {}
        missing: list[str] = []
        for sku in dict.fromkeys(skus):
            cached = self._products.get(sku)
            if cached is not None and cached.expires > now:
                found[sku] = cached
            else:
                missing.append(sku)
        if missing:
            rows = await self._rpc.execute(
                "product.product",
                "search_read",
                [("code", "in", missing)],
                0,
                None,
                None,
                ["code", "sale_uom", "default_uom", "salable", "template.name"],
            )
            expires = now + self._settings.sku_cache_seconds
            for row in rows:
                entry = _CachedProduct(
                    id=row["id"],
                    unit=row.get("sale_uom") or row["default_uom"],
                    name=(row.get("template.") or {}).get("name") or row["code"],
                    salable=bool(row.get("salable")),
                    expires=expires,
                )
                self._products[row["code"]] = entry
                found[row["code"]] = entry
        return found

    async def _warehouse_ids(self, code: str | None) -> dict[str, int]:
        if code is None:
            if not self._warehouses:
                await self._load_warehouses()
            return dict(self._warehouses)
        return {code: await self._warehouse_id(code)}

    async def _warehouse_id(self, code: str) -> int:
        if code not in self._warehouses:
            await self._load_warehouses()
        try:
            return self._warehouses[code]
        except KeyError:
            raise ErpRejected(
                f"the ERP has no warehouse {code!r}",
                errors=[{"field": "warehouse", "message": f"unknown warehouse {code!r}"}],
            ) from None

    async def _load_warehouses(self) -> None:
        rows = await self._rpc.execute(
            "stock.location", "search_read", [("type", "=", "warehouse")], 0, None, None, ["code"]
        )
        self._warehouses = {row["code"]: row["id"] for row in rows if row.get("code")}

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

    async def _currency_of_company(self) -> str:
        if self._company_currency is None:
            if not self._rpc.context:
                await self._rpc.login()
            rows = await self._rpc.execute(
                "company.company", "read", [self._rpc.context["company"]], ["currency.code"]
            )
            self._company_currency = rows[0]["currency."]["code"]
        return self._company_currency

    async def _country_id(self, code: str) -> int | None:
        if not self._countries:
            rows = await self._rpc.execute(
                "country.country", "search_read", [], 0, None, None, ["code"]
            )
            self._countries = {row["code"]: row["id"] for row in rows if row.get("code")}
        return self._countries.get(code)


# -- Tryton rows to canonical models ---------------------------------------------------------


def _sale_id(order_id: str) -> int:
    if not order_id.isdigit() or int(order_id) <= 0:
        raise OrderNotFound(f"no sales order {order_id!r}")
    return int(order_id)


def _cancelled(row: Row) -> bool:
    # A processing sale cancelled through this adapter ends "done" with nothing shipped
    # or invoiced; a genuinely finished sale has shipment state "sent".
    state = row["state"]
    return state == "cancelled" or (
        state == "done"
        and row.get("shipment_state") == "none"
        and row.get("invoice_state") == "none"
    )


def _sales_order(row: Row) -> SalesOrder:
    currency = (row.get("currency.") or {}).get("code") or "XXX"
    lines = [
        OrderLine(
            sku=(line.get("product.") or {}).get("code") or "",
            quantity=round(line.get("quantity") or 0),
            unit_price=line.get("unit_price") or Decimal(0),
            description=line.get("description"),
        )
        for line in row.get("lines.") or []
        if line.get("type") == "line" and line.get("product.")
    ]
    contact = (row.get("contact.") or {}).get("value")
    email = contact or (row.get("party.") or {}).get("email")
    status = OrderStatus.CANCELLED if _cancelled(row) else _STATUS[row["state"]]
    return SalesOrder(
        id=str(row["id"]),
        number=row.get("number"),
        external_reference=row.get("reference") or "",
        status=status,
        currency=currency,
        customer_email=email,
        lines=lines,
        total=Money(amount=row.get("total_amount") or Decimal(0), currency=currency),
        created_at=_utc(row.get("create_date")),
        shipped=row.get("shipment_state") in ("sent", "partially shipped"),
    )


def _customer(row: Row, email: str) -> Customer:
    mechanisms = row.get("contact_mechanisms.") or []
    emails = [m["value"] for m in mechanisms if m.get("type") == "email" and m.get("value")]
    matched = next((e for e in emails if e.casefold() == email.casefold()), email)
    phone = next(
        (m["value"] for m in mechanisms if m.get("type") in ("phone", "mobile") and m.get("value")),
        None,
    )
    addresses = [
        Address(
            name=a.get("party_name") or "",
            street=a.get("street") or "",
            city=a.get("city") or "",
            postal_code=a.get("postal_code") or "",
            country=(a.get("country.") or {}).get("code"),
        )
        for a in row.get("addresses.") or []
    ]
    return Customer(
        id=str(row["id"]),
        email=matched,
        name=row.get("name") or "",
        phone=phone,
        addresses=addresses,
    )


def _email_mechanism(party: Row, email: str) -> tuple[int, str] | None:
    """The id and stored value of the party's email contact matching ``email``."""
    for mechanism in party.get("contact_mechanisms.") or []:
        value = mechanism.get("value") or ""
        if mechanism.get("type") == "email" and value.casefold() == email.casefold():
            return int(mechanism["id"]), value
    return None


def _same_address(row: Row, wanted: Address) -> bool:
    def norm(value: object) -> str:
        return " ".join(str(value or "").split()).casefold()

    country = (row.get("country.") or {}).get("code")
    return (
        norm(row.get("street")) == norm(wanted.street)
        and norm(row.get("postal_code")) == norm(wanted.postal_code)
        and norm(row.get("city")) == norm(wanted.city)
        and (wanted.country is None or country == wanted.country)
    )


def _shipment(row: Row, *, is_return: bool) -> Shipment:
    quantities: dict[str, Decimal] = {}
    for move in row.get(f"{_RETURN_MOVES if is_return else _OUT_MOVES}.") or []:
        sku = (move.get("product.") or {}).get("code") or ""
        quantities[sku] = quantities.get(sku, Decimal(0)) + _quantity(move.get("quantity"))
    shipped_at = (
        _utc(row.get("write_date") or row.get("create_date"))
        if row["state"] in _SHIPPED_STATES or (is_return and row["state"] in ("received", "done"))
        else None
    )
    return Shipment(
        id=str(row["id"]),
        number=row.get("number"),
        state=row["state"],
        lines=[ShipmentLine(sku=sku, quantity=qty) for sku, qty in quantities.items()],
        shipped_at=shipped_at,
        is_return=is_return,
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
                quantity=_quantity(line.get("quantity")),
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


def _quantity(value: float | None) -> Decimal:
    if value is None:
        return Decimal(0)
    if float(value).is_integer():
        return Decimal(int(value))
    return Decimal(str(value))


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # Tryton keeps naive UTC timestamps.
    return value.replace(tzinfo=dt.UTC) if value is not None else None


def _utc_date(value: dt.datetime) -> dt.date:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.date()


def _like_literal(text: str) -> str:
    # ilike without wildcards: the backslash escapes Tryton's SQL LIKE patterns.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
