"""Inventory process API v1: available-to-sell across ERP instances, and reservations."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody, Parameter, QueryParameter

from process_apis.inventory.schemas import Availability, Reservation, ReservationRequest
from process_apis.inventory.service import InventoryService
from shared.auth import requires
from shared.idempotency import IDEMPOTENCY_KEY_PATTERN, IdempotencyStore, fingerprint
from shared.problems import BadRequest, problem_responses

SKU_PATTERN = r"^[A-Za-z0-9._\-]+$"
SKU_SCHEMA = {"minLength": 1, "maxLength": 64, "pattern": SKU_PATTERN}
RESERVATION_ID = Parameter(
    title="Reservation id", min_length=1, max_length=64, pattern=r"^[a-f0-9]+$"
)
MAX_SKUS = 100
_SKU = re.compile(SKU_PATTERN)
# Every SKU of a request in one match (they are joined by a character no SKU holds).
_SKUS = re.compile(r"[A-Za-z0-9._\-]{1,64}(?:,[A-Za-z0-9._\-]{1,64})*")
_ENC = msgspec.json.Encoder()


class InventoryController(Controller):
    path = "/inventory/v1"
    tags = ["inventory"]

    @get(
        "/availability",
        operation_id="getAvailability",
        summary="Available-to-sell of many SKUs",
        **requires("inventory:read", responses=problem_responses(400, 429, 503)),
    )
    async def availability(
        self,
        inventory: NamedDependency[InventoryService],
        sku: Annotated[
            list[str],
            QueryParameter(
                min_items=1,
                max_items=MAX_SKUS,
                schema_extra={"items": {"type": "string", **SKU_SCHEMA}},
                description=f"Repeat for several SKUs (at most {MAX_SKUS})",
            ),
        ],
    ) -> Availability:
        """Available-to-sell per SKU: whole units in stock in every warehouse of every ERP
        instance, less active reservations. ERP instances are asked in parallel and their
        answers kept for a few seconds; an instance that does not answer in time is listed
        as `unavailable` in `sources` and the answer is marked `complete: false`."""
        return await inventory.availability(_valid_skus(sku))

    @post(
        "/reservations",
        operation_id="createReservation",
        summary="Hold stock for a cart or checkout",
        status_code=201,
        **requires("inventory:reserve", responses=problem_responses(400, 409, 422, 429, 503)),
    )
    async def reserve(
        self,
        inventory: NamedDependency[InventoryService],
        idempotency: NamedDependency[IdempotencyStore],
        data: JSONBody[ReservationRequest],
        idempotency_key: Annotated[
            str,
            HeaderParameter(
                name="Idempotency-Key",
                description="A unique key per reservation (8 to 255 printable characters); a "
                "retry with the same key and body returns the first answer, another body 422.",
                min_length=8,
                max_length=255,
                pattern=IDEMPOTENCY_KEY_PATTERN,
            ),
        ],
    ) -> Response[Reservation]:
        """Hold every line until `ttl_seconds` have passed (default 15 minutes) or the
        reservation is deleted: all lines or none. Reservations are checked and held in one
        atomic step, so concurrent reservations never hold more than is available to sell;
        a line that does not fit gets 409 with what is left. Requires `Idempotency-Key`."""
        fp = fingerprint(b"POST /inventory/v1/reservations", _ENC.encode(data))

        async def reserve() -> tuple[int, Reservation]:
            return 201, await inventory.reserve(data)

        return await idempotency.respond_once("reservations", idempotency_key, fp, reserve)

    @delete(
        "/reservations/{reservation_id:str}",
        operation_id="releaseReservation",
        summary="Release a reservation",
        **requires("inventory:reserve", responses=problem_responses(400, 404, 429, 503)),
    )
    async def release(
        self,
        inventory: NamedDependency[InventoryService],
        reservation_id: Annotated[str, RESERVATION_ID],
    ) -> None:
        """Give the held stock back at once (an order was placed, a cart abandoned). A
        reservation already released or expired gets 404."""
        await inventory.release(reservation_id)


def _valid_skus(skus: list[str]) -> list[str]:
    if _SKUS.fullmatch(",".join(skus)):
        return list(dict.fromkeys(skus))
    bad = [
        {"field": f"query.sku[{i}]", "message": "1 to 64 characters of A-Z a-z 0-9 . _ -"}
        for i, sku in enumerate(skus)
        if not 1 <= len(sku) <= 64 or not _SKU.fullmatch(sku)
    ]
    if bad:
        raise BadRequest("Invalid SKU in query", errors=bad)
    return list(dict.fromkeys(skus))
