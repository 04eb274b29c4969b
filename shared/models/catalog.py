"""Canonical catalogue models: products and their variants as the ERP (or a PIM) holds them."""

from __future__ import annotations

import datetime as dt

import msgspec

from shared.models.commerce import Money


class Variant(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    name: str
    price: Money
    active: bool = True


class Product(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    variants: list[Variant]
    updated_at: dt.datetime | None = None
