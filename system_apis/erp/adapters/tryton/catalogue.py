"""The catalogue in Tryton: salable products, their list prices, and stock per warehouse.

It also caches the ids a sale is built from on the catalogue side: products by SKU (with
their sale unit) and warehouses by code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterable
from decimal import Decimal
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
    "products.code",
    "products.description",
    "products.list_price_used",
    "products.active",
    "products.create_date",
    "products.write_date",
    "products.identifiers.type",
    "products.identifiers.code",
]
# Tryton identifier types that are barcodes a till or a shop scans.
_BARCODE_TYPES = ("ean", "upc", "gtin", "jan", "isbn", "ismn", "issn")


def _barcode(identifiers: list[Row]) -> str | None:
    """The variant's first barcode-like identifier (EAN, UPC, GTIN...), if it has one."""
    for kind in _BARCODE_TYPES:
        for identifier in identifiers:
            if identifier.get("type") == kind and identifier.get("code"):
                return str(identifier["code"])
    return None


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

    # -- products -------------------------------------------------------------------------

    async def list_products(
        self, *, offset: int, limit: int, updated_since: dt.datetime | None
    ) -> tuple[list[Product], bool]:
        """Salable products (Tryton templates) by id, with variants priced by list price.

        ``updated_since`` keeps templates created or written since then, or whose variants
        were; the flag says whether another page follows.
        """
        # Service products (shipping, discounts, adjustments) price orders; they are not sold.
        domain: list[Any] = [("salable", "=", True), ("type", "!=", "service")]
        context: dict[str, Any] = {}
        if updated_since is not None:
            # A change feed must also show what was deactivated or made unsalable since, so
            # that a shop can archive it: every template and variant, active or not.
            domain = [("salable", "in", [True, False]), ("type", "!=", "service")]
            context = {"active_test": False}
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
                context=context or None,
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
        updated = utc(row.get("write_date") or row.get("create_date"))
        for variant in row.get("products.") or []:
            code = variant.get("code")
            if not code:
                continue
            price = Money(amount=variant.get("list_price_used") or Decimal(0), currency=currency)
            variants.append(
                Variant(
                    sku=code,
                    name=variant.get("description") or row["name"],
                    price=price,
                    active=bool(variant.get("active", True)),
                    id=str(variant["id"]) if variant.get("id") is not None else None,
                    barcode=_barcode(variant.get("identifiers.") or []),
                    description=variant.get("description") or None,
                    prices=[price],
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
