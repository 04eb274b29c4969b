"""Canonical catalogue models: products and their variants as the ERP (or a PIM) holds them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from shared.models.commerce import Money


class VariantOption(msgspec.Struct, frozen=True, kw_only=True):
    """One option value of a variant (``Color``: ``Black``), where the ERP names options."""

    name: str
    value: str


class Variant(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    name: str
    #: The list price in the ERP's own currency.
    price: Money
    active: bool = True
    #: The ERP's id of the variant (Tryton ``product.product``).
    id: str | None = None
    #: Option values, in the product's option order; empty where the ERP has no attributes.
    options: list[VariantOption] = []
    barcode: str | None = None
    #: Net weight in grams, where the ERP records it.
    weight_grams: Decimal | None = None
    description: str | None = None
    #: The price in each currency the ERP has a price for (price lists); ``price`` included.
    prices: list[Money] = []


class Product(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    variants: list[Variant]
    updated_at: dt.datetime | None = None
    #: False once the product is deactivated (or no longer salable) in the ERP.
    active: bool = True
    description: str | None = None
    #: Image URLs, where the ERP has them.
    images: list[str] = []
