"""Request and response shapes of the ERP system API v1."""

from __future__ import annotations

import msgspec

from shared.models import CreditNote, Customer, Invoice, Product, Shipment, StockLevel


class ProductPage(msgspec.Struct, kw_only=True):
    items: list[Product]
    offset: int
    limit: int
    next_offset: int | None = None


class StockLevels(msgspec.Struct, kw_only=True):
    items: list[StockLevel]


class Customers(msgspec.Struct, kw_only=True):
    items: list[Customer]


class InstanceInfo(msgspec.Struct, kw_only=True):
    instance: str
    adapter: str


class Shipments(msgspec.Struct, kw_only=True):
    items: list[Shipment]


class Invoices(msgspec.Struct, kw_only=True):
    items: list[Invoice]


class CreditNotes(msgspec.Struct, kw_only=True):
    items: list[CreditNote]
