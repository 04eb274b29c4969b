"""Available-to-sell and reservations, free of HTTP: what the inventory routes call."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

from redis.exceptions import RedisError

from process_apis.inventory.reservations import ReservationStore
from process_apis.inventory.schemas import (
    Availability,
    LocationStock,
    Reservation,
    ReservationLine,
    ReservationRequest,
    SkuAvailability,
    SourceStatus,
)
from process_apis.inventory.settings import InventorySettings
from process_apis.inventory.stock import InstanceStock, StockBoard
from shared.models import StockLevel
from shared.problems import Conflict, NotFound, ServiceUnavailable, UpstreamUnavailable


class InsufficientStock(Conflict):
    slug = "insufficient-stock"
    title = "Not enough stock is available to sell"


class ReservationNotFound(NotFound):
    slug = "reservation-not-found"
    title = "No active reservation has this id"


def sellable_units(quantity: Decimal) -> int:
    """Whole units: half a unit on a shelf is not something a customer can buy."""
    return max(int(quantity.to_integral_value(rounding=ROUND_FLOOR)), 0)


#: (instance, SKU) pairs whose shaped stock is kept; past it the memo starts afresh.
MAX_SHAPED = 100_000
_Shaped = tuple[tuple[StockLevel, ...], list[LocationStock], int]


class InventoryService:
    def __init__(
        self, settings: InventorySettings, board: StockBoard, reservations: ReservationStore
    ) -> None:
        self.settings = settings
        self.board = board
        self.reservations = reservations
        # A SKU's locations and whole units, worked out once per stock read of an instance
        # (the board hands out the same levels until it reads again).
        self._shaped: dict[tuple[str, str], _Shaped] = {}

    async def availability(self, skus: Sequence[str]) -> Availability:
        """Available-to-sell of ``skus`` across every ERP instance, less reservations."""
        wanted = list(dict.fromkeys(skus))
        # One after the other: the board answers from memory without waiting unless it must
        # read an ERP, which takes far longer than Redis (no tasks to run both at once).
        readings = await self.board.read(wanted)
        held = await self._held(wanted)
        items = []
        for sku in wanted:
            locations: list[LocationStock] = []
            erp_available = 0
            known = False
            for reading in readings:
                levels = reading.levels.get(sku)
                if levels is None:
                    continue
                known = known or reading.ok
                shown, units = self._shape(reading.instance, sku, levels)
                locations += shown
                erp_available += units
            reserved = held.get(sku, 0)
            items.append(
                SkuAvailability(
                    sku=sku,
                    available_to_sell=max(erp_available - reserved, 0),
                    erp_available=erp_available,
                    reserved=reserved,
                    known=known,
                    locations=locations,
                )
            )
        return Availability(
            items=items,
            sources=[_source(reading) for reading in readings],
            complete=all(reading.ok for reading in readings),
        )

    def _shape(
        self, instance: str, sku: str, levels: tuple[StockLevel, ...]
    ) -> tuple[list[LocationStock], int]:
        """The SKU's warehouses in ``instance`` and the whole units they can ship."""
        key = (instance, sku)
        kept = self._shaped.get(key)
        if kept is not None and kept[0] is levels:
            return kept[1], kept[2]
        locations = [
            LocationStock(
                instance=instance,
                warehouse=level.warehouse,
                on_hand=level.on_hand,
                available=level.available,
            )
            for level in levels
        ]
        units = sum(sellable_units(level.available) for level in levels)
        if len(self._shaped) >= MAX_SHAPED:
            self._shaped.clear()
        self._shaped[key] = (levels, locations, units)
        return locations, units

    async def reserve(self, request: ReservationRequest) -> Reservation:
        """Hold every line of ``request`` or none; 409 naming the lines that do not fit."""
        lines = _merged(request.lines)
        readings = await self.board.read([line.sku for line in lines])
        if not any(reading.ok for reading in readings):
            raise UpstreamUnavailable(
                "No ERP instance answered with stock; try again shortly", retry_after=2
            )
        ats = {
            line.sku: sum(
                sellable_units(level.available)
                for reading in readings
                for level in reading.levels.get(line.sku, ())
            )
            for line in lines
        }
        ttl = min(
            request.ttl_seconds or self.settings.reservation_ttl, self.settings.max_reservation_ttl
        )
        try:
            outcome = await self.reservations.reserve(
                lines, ats, ttl, reference=request.reference, shop=request.shop
            )
        except RedisError as exc:
            raise ServiceUnavailable(
                f"reservation store unavailable: {exc}", retry_after=2
            ) from exc
        if outcome.reservation is None:
            first: dict[str, int] = {}
            for index, line in enumerate(request.lines):
                first.setdefault(line.sku, index)
            raise InsufficientStock(
                "Not enough stock to hold: "
                + ", ".join(f"{s.sku} ({s.left} left)" for s in outcome.shortfalls),
                errors=[
                    {
                        "field": f"lines[{first[s.sku]}].quantity",
                        "message": f"{s.requested} requested, {s.left} available to sell",
                        "sku": s.sku,
                        "available_to_sell": s.left,
                    }
                    for s in outcome.shortfalls
                ],
            )
        return outcome.reservation

    async def release(self, reservation_id: str) -> None:
        """Give the reservation's stock back, else 404 (released or expired already)."""
        try:
            released = await self.reservations.release(reservation_id)
        except RedisError as exc:
            raise ServiceUnavailable(
                f"reservation store unavailable: {exc}", retry_after=2
            ) from exc
        if not released:
            raise ReservationNotFound(f"No active reservation {reservation_id}")

    async def _held(self, skus: list[str]) -> dict[str, int]:
        try:
            return await self.reservations.held(skus)
        except RedisError as exc:
            # Without reservations the figures would promise held stock twice: refuse.
            raise ServiceUnavailable(
                f"reservation store unavailable: {exc}", retry_after=2
            ) from exc


def _merged(lines: Sequence[ReservationLine]) -> list[ReservationLine]:
    """One line per SKU, in first-seen order, quantities added up."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return [ReservationLine(sku=sku, quantity=qty) for sku, qty in totals.items()]


def _source(reading: InstanceStock) -> SourceStatus:
    if reading.ok:
        return SourceStatus(instance=reading.instance, state="ok", as_of=reading.as_of)
    return SourceStatus(instance=reading.instance, state="unavailable", detail=reading.detail)
