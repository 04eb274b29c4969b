"""Request and response shapes of the inventory process API v1."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")]


class LocationStock(msgspec.Struct, frozen=True, kw_only=True):
    """What one warehouse of one ERP instance can ship of a SKU."""

    instance: str
    warehouse: str
    on_hand: Decimal
    available: Decimal


class SkuAvailability(msgspec.Struct, frozen=True, kw_only=True):
    """Available-to-sell of one SKU: whole units the ERPs can ship, less active reservations.

    ``known`` is false when no answering ERP instance carries the SKU.
    """

    sku: str
    available_to_sell: int
    erp_available: int
    reserved: int
    known: bool
    locations: list[LocationStock]


class SourceStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Whether an ERP instance's stock is part of the answer, and how old it is."""

    instance: str
    state: Literal["ok", "unavailable"]
    as_of: float | None = None
    detail: str | None = None


class Availability(msgspec.Struct, frozen=True, kw_only=True):
    """Available-to-sell per SKU. ``complete`` is false when an ERP instance did not answer:
    its stock is then left out, so figures can only be too low, never too high."""

    items: list[SkuAvailability]
    sources: list[SourceStatus]
    complete: bool


class ReservationLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sku: Sku
    quantity: Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class ReservationRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Hold stock for a cart or checkout: all lines or none.

    ``reference`` names what holds it (a checkout token, a cart id), ``shop`` whose it is.
    """

    lines: Annotated[list[ReservationLine], msgspec.Meta(min_length=1, max_length=100)]
    ttl_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] | None = None
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    shop: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    """Stock held until ``expires_at`` (epoch seconds) or until released."""

    id: str
    lines: list[ReservationLine]
    expires_at: float
    created_at: float
    reference: str | None = None
    shop: str | None = None
