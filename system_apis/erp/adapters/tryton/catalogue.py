"""The catalogue in Tryton: salable products, their prices, and stock per warehouse.

Prices: a variant's ``price`` is its list price in the company's currency; ``prices`` holds
one price per currency the ERP prices, read from Tryton price lists (``product_price_list``)
named for a currency (the name's last word, an ISO 4217 code the ERP knows: ``Shop prices
USD``). Tryton computes a price list in the company's currency; naming a list for another
currency is how a business keeps its own prices for shops selling in that currency rather
than converting at a rate. A variant's price in a list is that of the first line matching
one unit of it, as Tryton picks it, when its formula is a fixed amount (``22.00``) or the list
price (``unit_price`` of a list priced on the list price, ``list_price``); any other formula
gives no price in that currency, never an estimate. The list price stands for the company's
currency unless a list of that currency prices the variant.

It also caches the ids a sale is built from on the catalogue side: products by SKU (with
their sale unit) and warehouses by code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from shared.models import Money, Product, StockLevel, Variant
from system_apis.erp.adapters.tryton.rows import Row, quantity, utc
from system_apis.erp.adapters.tryton_rpc import TrytonRpc
from system_apis.erp.adapters.tryton_settings import TrytonSettings
from system_apis.erp.port import ErpRejected, UnknownSku

_PRODUCT_FIELDS = [
    "name",
    "active",
    "salable",
    "create_date",
    "write_date",
    "categories_all",
    "products.code",
    "products.description",
    "products.list_price_used",
    "products.active",
    "products.create_date",
    "products.write_date",
    "products.identifiers.type",
    "products.identifiers.code",
]
_PRICE_LINE_FIELDS = ["price_list", "product", "category", "quantity", "formula"]
# A fixed amount as a price list formula holds it: ``22.00`` or ``Decimal('22.00')``.
_FIXED_AMOUNT = re.compile(
    r"""^\s*(?:Decimal\(\s*['"]([0-9]+(?:\.[0-9]+)?)['"]\s*\)|([0-9]+(?:\.[0-9]+)?))\s*$"""
)
# Tryton identifier types that are barcodes a till or a shop scans.
_BARCODE_TYPES = ("ean", "upc", "gtin", "jan", "isbn", "ismn", "issn")


def _barcode(identifiers: list[Row]) -> str | None:
    """The variant's first barcode-like identifier (EAN, UPC, GTIN...), if it has one."""
    for kind in _BARCODE_TYPES:
        for identifier in identifiers:
            if identifier.get("type") == kind and identifier.get("code"):
                return str(identifier["code"])
    return None


class PriceListLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a Tryton price list: whom it applies to, and its formula."""

    product: int | None
    category: int | None
    quantity: float | None
    formula: str


class CurrencyPriceList(msgspec.Struct, frozen=True, kw_only=True):
    """A Tryton price list read as the prices of ``currency``, lines in Tryton's order."""

    currency: str
    #: The list's ``unit_price`` is the list price (Tryton's ``price`` is ``list_price``).
    on_list_price: bool
    lines: tuple[PriceListLine, ...]

    def price(self, variant: int, categories: Iterable[int], list_price: Decimal) -> Decimal | None:
        """The price of one unit of ``variant``: the first matching line decides, as in
        Tryton; None if no line matches or its formula is neither a fixed amount nor the
        list price."""
        held = set(categories)
        for line in self.lines:
            if line.quantity is not None and line.quantity > 1:
                continue
            if line.category is not None and line.category not in held:
                continue
            if line.product is not None and line.product != variant:
                continue
            return formula_amount(line.formula, self.on_list_price, list_price)
        return None


def formula_amount(formula: str, on_list_price: bool, list_price: Decimal) -> Decimal | None:
    """What a price list formula comes to, where that needs no evaluation: a fixed amount, or
    the list price; None for any other formula."""
    fixed = _FIXED_AMOUNT.match(formula)
    if fixed is not None:
        try:
            return Decimal(fixed.group(1) or fixed.group(2))
        except InvalidOperation:  # pragma: no cover - the pattern admits digits only
            return None
    name = formula.strip()
    if name == "list_price" or (name == "unit_price" and on_list_price):
        return list_price
    return None


def list_currency(name: str, known: Iterable[str]) -> str | None:
    """The currency a price list is named for (its name's last word), if the ERP knows it."""
    words = name.split()
    code = words[-1] if words else ""
    return code if code in set(known) else None


class CachedProduct(msgspec.Struct, frozen=True):
    """A Tryton product (variant) as a sale line needs it, with when the entry expires."""

    id: int
    unit: int
    name: str
    salable: bool
    expires: float


class Catalogue:
    """Products, prices and stock of one Tryton database, with SKU and warehouse ids cached."""

    def __init__(self, rpc: TrytonRpc, settings: TrytonSettings) -> None:
        """Read through ``rpc``; cache SKUs for ``settings.sku_cache_seconds``."""
        self._rpc = rpc
        self._settings = settings
        self._products: dict[str, CachedProduct] = {}
        self._warehouses: dict[str, int] = {}
        self._company_currency: str | None = None
        self._currency_codes: frozenset[str] | None = None
        self._has_price_lists: bool | None = None

    # -- products -------------------------------------------------------------------------

    async def list_products(
        self, *, offset: int, limit: int, updated_since: dt.datetime | None
    ) -> tuple[list[Product], bool]:
        """Salable products (Tryton templates) by id, with variants priced in every currency
        the ERP prices.

        ``updated_since`` keeps templates created or written since then, or whose variants
        were, or whose price in a price list was (all of them when a list, or a line that
        names no variant, changed); the flag says whether another page follows.
        """
        # Service products (shipping, discounts, adjustments) price orders; they are not sold.
        domain: list[Any] = [("salable", "=", True), ("type", "!=", "service")]
        context: dict[str, Any] = {}
        if updated_since is not None:
            # A change feed must also show what was deactivated or made unsalable since, so
            # that a shop can archive it: every template and variant, active or not.
            domain = [("salable", "in", [True, False]), ("type", "!=", "service")]
            context = {"active_test": False}
            repriced = await self._repriced_since(updated_since)
            if repriced is not None:
                changed: list[Any] = [
                    "OR",
                    ("write_date", ">=", updated_since),
                    ("create_date", ">=", updated_since),
                    ("products.write_date", ">=", updated_since),
                    ("products.create_date", ">=", updated_since),
                ]
                if repriced:
                    changed.append(("products", "in", sorted(repriced)))
                domain.append(changed)
        rows, currency, lists = await asyncio.gather(
            self._rpc.execute(
                "product.template",
                "search_read",
                domain,
                offset,
                limit + 1,
                [("id", "ASC")],
                _PRODUCT_FIELDS,
                context=context or None,
            ),
            self._currency_of_company(),
            self.price_lists(),
        )
        more = len(rows) > limit
        return [self._product(row, currency, lists) for row in rows[:limit]], more

    async def get_variant_product(self, sku: str) -> Product:
        """The product holding variant ``sku``; UnknownSku if no product has it."""
        rows, currency, lists = await asyncio.gather(
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
            self.price_lists(),
        )
        if not rows:
            raise UnknownSku(
                f"no product has the SKU {sku!r}",
                errors=[{"field": "sku", "message": f"unknown SKU {sku!r}"}],
            )
        return self._product(rows[0], currency, lists)

    def _product(self, row: Row, currency: str, lists: list[CurrencyPriceList]) -> Product:
        variants = []
        updated = utc(row.get("write_date") or row.get("create_date"))
        categories = row.get("categories_all") or []
        for variant in row.get("products.") or []:
            code = variant.get("code")
            if not code:
                continue
            list_price = variant.get("list_price_used") or Decimal(0)
            price = Money(amount=list_price, currency=currency)
            priced = {currency: price}
            for price_list in lists:
                amount = price_list.price(variant["id"], categories, list_price)
                if amount is not None:
                    priced[price_list.currency] = Money(amount=amount, currency=price_list.currency)
            variants.append(
                Variant(
                    sku=code,
                    name=variant.get("description") or row["name"],
                    price=price,
                    active=bool(variant.get("active", True)),
                    id=str(variant["id"]) if variant.get("id") is not None else None,
                    barcode=_barcode(variant.get("identifiers.") or []),
                    description=variant.get("description") or None,
                    prices=[priced.pop(currency), *(priced[c] for c in sorted(priced))],
                )
            )
            changed = utc(variant.get("write_date") or variant.get("create_date"))
            if changed is not None and (updated is None or changed > updated):
                updated = changed
        return Product(
            id=str(row["id"]),
            name=row["name"],
            variants=variants,
            updated_at=updated,
            active=bool(row.get("active", True)) and bool(row.get("salable", True)),
        )

    # -- price lists ----------------------------------------------------------------------

    async def price_lists(self) -> list[CurrencyPriceList]:
        """The active price lists named for a currency the ERP knows, the first (by id) of
        each currency, with their lines in Tryton's order; none where Tryton has no price
        lists (the ``product_price_list`` module is not activated)."""
        if not await self._price_lists_activated():
            return []
        rows, known = await asyncio.gather(
            self._rpc.execute(
                "product.price_list",
                "search_read",
                [],
                0,
                None,
                [("id", "ASC")],
                ["name", "price"],
            ),
            self._currencies(),
        )
        chosen: dict[str, Row] = {}
        for row in rows:
            code = list_currency(row.get("name") or "", known)
            if code is not None and code not in chosen:
                chosen[code] = row
        if not chosen:
            return []
        lines: list[Row] = await self._rpc.execute(
            "product.price_list.line",
            "search_read",
            [("price_list", "in", [row["id"] for row in chosen.values()])],
            0,
            None,
            None,
            _PRICE_LINE_FIELDS,
        )
        by_list: dict[int, list[PriceListLine]] = {}
        for line in lines:
            by_list.setdefault(line["price_list"], []).append(
                PriceListLine(
                    product=line.get("product"),
                    category=line.get("category"),
                    quantity=line.get("quantity"),
                    formula=line.get("formula") or "",
                )
            )
        return [
            CurrencyPriceList(
                currency=code,
                on_list_price=row.get("price") == "list_price",
                lines=tuple(by_list.get(row["id"], ())),
            )
            for code, row in chosen.items()
        ]

    async def _repriced_since(self, since: dt.datetime) -> set[int] | None:
        """Variants (ids) whose price list line changed since ``since``; None when a price
        list itself, or a line that names no variant, did (every product may be repriced)."""
        if not await self._price_lists_activated():
            return set()
        changed: list[Any] = ["OR", ("write_date", ">=", since), ("create_date", ">=", since)]
        lists, lines = await asyncio.gather(
            self._rpc.execute(
                "product.price_list",
                "search",
                changed,
                0,
                1,
                None,
                context={"active_test": False},
            ),
            self._rpc.execute(
                "product.price_list.line",
                "search_read",
                changed,
                0,
                None,
                None,
                ["product"],
            ),
        )
        if lists or any(line.get("product") is None for line in lines):
            return None
        return {line["product"] for line in lines}

    async def _price_lists_activated(self) -> bool:
        if self._has_price_lists is None:
            found = await self._rpc.execute(
                "ir.model", "search", [("name", "=", "product.price_list")], 0, 1, None
            )
            self._has_price_lists = bool(found)
        return self._has_price_lists

    async def _currencies(self) -> frozenset[str]:
        # Currencies are never recoded: read once.
        if self._currency_codes is None:
            rows = await self._rpc.execute(
                "currency.currency", "search_read", [], 0, None, None, ["code"]
            )
            self._currency_codes = frozenset(row["code"] for row in rows)
        return self._currency_codes

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
        products = await self.resolve_skus(skus)
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
                on_hand = quantity(row.get("quantity"))
                forecast = quantity(row.get("forecast_quantity"))
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

    # -- cached lookups -------------------------------------------------------------------

    async def resolve_skus(self, skus: Iterable[str]) -> dict[str, CachedProduct]:
        """Cached products by SKU; unknown SKUs are missing from the answer."""
        now = time.monotonic()
        found: dict[str, CachedProduct] = {}
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
                entry = CachedProduct(
                    id=row["id"],
                    unit=row.get("sale_uom") or row["default_uom"],
                    name=(row.get("template.") or {}).get("name") or row["code"],
                    salable=bool(row.get("salable")),
                    expires=expires,
                )
                self._products[row["code"]] = entry
                found[row["code"]] = entry
        return found

    def forget_sku(self, sku: str) -> bool:
        """Drop the cached product of ``sku``; say whether the cache held one."""
        return self._products.pop(sku, None) is not None

    async def _warehouse_ids(self, code: str | None) -> dict[str, int]:
        if code is None:
            if not self._warehouses:
                await self._load_warehouses()
            return dict(self._warehouses)
        return {code: await self.warehouse_id(code)}

    async def warehouse_id(self, code: str) -> int:
        """The id of warehouse ``code``; ErpRejected naming the field if the ERP has none."""
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

    async def _currency_of_company(self) -> str:
        if self._company_currency is None:
            if not self._rpc.context:
                await self._rpc.login()
            rows = await self._rpc.execute(
                "company.company", "read", [self._rpc.context["company"]], ["currency.code"]
            )
            self._company_currency = rows[0]["currency."]["code"]
        return self._company_currency
