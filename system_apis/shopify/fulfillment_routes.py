"""Shopify system API v1, fulfillments: an order's fulfillments with tracking, sending one
exactly once per shipment key, tracking corrections and cancellations."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, route
from litestar.enums import HttpMethod
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, Parameter

from shared.auth import requires
from shared.problems import problem_responses
from system_apis.shopify.fulfillment_schemas import (
    FulfillmentSend,
    OrderFulfillment,
    OrderFulfillmentOrders,
    OrderFulfillments,
    TrackingUpdate,
)
from system_apis.shopify.fulfillments import FulfillmentSender
from system_apis.shopify.routes import (
    ORDER_ID,
    READ_ERRORS,
    SHOP,
    WRITE_ERRORS,
    IdempotencyKeyHeader,
    once,
)

FULFILLMENT_ID = Parameter(title="Shopify fulfillment id", ge=1, le=2**53)

_ORDER = 5_100_000_001_001
_FULFILLED: dict[str, Any] = {
    "id": 5_400_000_000_123,
    "order_id": _ORDER,
    "name": "#1001.1",
    "status": "SUCCESS",
    "display_status": "FULFILLED",
    "created_at": "2026-12-03T09:00:00Z",
    "updated_at": "2026-12-03T09:00:00Z",
    "location_id": 61_000_000_001,
    "tracking": [
        {
            "company": "DHL Express",
            "number": "JD014600006281230701",
            "url": "https://www.dhl.com/track?id=JD014600006281230701",
        },
        {
            "company": "DHL Express",
            "number": "JD014600006281230702",
            "url": "https://www.dhl.com/track?id=JD014600006281230702",
        },
    ],
    "lines": [{"line_item_id": 13_700_000_000_456, "sku": "STR-TEE-BLK-M", "quantity": 2}],
}
_CORRECTED: dict[str, Any] = {
    **_FULFILLED,
    "updated_at": "2026-12-03T11:30:00Z",
    "tracking": [
        {
            "company": "UPS",
            "number": "1Z999AA10123456784",
            "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        }
    ],
}
_CANCELLED: dict[str, Any] = {
    **_FULFILLED,
    "status": "CANCELLED",
    "display_status": "CANCELED",
    "updated_at": "2026-12-04T08:00:00Z",
}
_FULFILLMENT_ORDERS: dict[str, Any] = {
    "order_id": _ORDER,
    "fulfillment_status": "PARTIALLY_FULFILLED",
    "items": [
        {
            "id": 6_300_000_000_789,
            "status": "IN_PROGRESS",
            "location_id": 61_000_000_001,
            "lines": [
                {
                    "id": 14_200_000_000_321,
                    "line_item_id": 13_700_000_000_456,
                    "sku": "STR-TEE-BLK-M",
                    "total_quantity": 3,
                    "remaining_quantity": 1,
                }
            ],
        }
    ],
}
SEND_EXAMPLES = [
    Example(
        summary="Two packages of one shipment, every line the fulfillment order has left",
        value={
            "fulfillment_orders": [{"fulfillment_order_id": 6_300_000_000_789}],
            "tracking": {
                "company": "DHL Express",
                "numbers": ["JD014600006281230701", "JD014600006281230702"],
                "urls": [
                    "https://www.dhl.com/track?id=JD014600006281230701",
                    "https://www.dhl.com/track?id=JD014600006281230702",
                ],
            },
            "notify_customer": True,
        },
    ),
    Example(
        summary="A partial shipment: some units of one line",
        value={
            "fulfillment_orders": [
                {
                    "fulfillment_order_id": 6_300_000_000_789,
                    "lines": [{"fulfillment_order_line_id": 14_200_000_000_321, "quantity": 1}],
                }
            ],
            "tracking": {"company": "La Poste", "numbers": ["6A12345678901"]},
        },
    ),
]
TRACKING_EXAMPLES = [
    Example(
        summary="A corrected carrier and number",
        value={
            "tracking": {
                "company": "UPS",
                "numbers": ["1Z999AA10123456784"],
                "urls": ["https://www.ups.com/track?tracknum=1Z999AA10123456784"],
            },
            "notify_customer": False,
        },
    )
]


def _answer(container: Any, description: str, *examples: Example) -> ResponseSpec:
    return ResponseSpec(
        data_container=container,
        description=description,
        generate_examples=False,
        examples=list(examples),
    )


def fulfillment_sender(request: Request[Any, Any, Any]) -> FulfillmentSender:
    """The app's sender, made on first use from its Admin API client and Redis."""
    state = request.app.state
    sender: FulfillmentSender | None = state.get("fulfillments")
    if sender is None:
        sender = state.fulfillments = FulfillmentSender(state.admin, state.redis)
    return sender


class FulfillmentController(Controller):
    path = "/shopify/v1/shops/{shop:str}"
    tags = ["shopify"]

    @get(
        "/orders/{order_id:int}/fulfillments",
        operation_id="listShopifyOrderFulfillments",
        summary="An order's fulfillments with tracking",
        **requires(
            "shopify:read",
            responses={
                200: _answer(
                    OrderFulfillments,
                    "The order's fulfillments, oldest first",
                    Example(
                        summary="Shipped in two packages, a first fulfillment cancelled",
                        value={
                            "order_id": _ORDER,
                            "fulfillment_status": "FULFILLED",
                            "items": [{**_CANCELLED, "id": 5_400_000_000_122}, _FULFILLED],
                        },
                    ),
                ),
                **problem_responses(*READ_ERRORS),
            },
        ),
    )
    async def order_fulfillments(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        order_id: Annotated[int, ORDER_ID],
    ) -> OrderFulfillments:
        """Every fulfillment of the order as Shopify holds it now, whoever made it (Strata or
        a warehouse fulfilling in Shopify), with carrier, tracking numbers and URLs, lines and
        status; and the order's fulfillment status. 404 if the shop has no such order."""
        return await fulfillment_sender(request).order_fulfillments(shop, order_id)

    @get(
        "/orders/{order_id:int}/fulfillment-orders",
        operation_id="listShopifyOrderFulfillmentOrders",
        summary="An order's fulfillment orders: what each location has left to ship",
        **requires(
            "shopify:read",
            responses={
                200: _answer(
                    OrderFulfillmentOrders,
                    "The order's fulfillment orders",
                    Example(
                        summary="One location, one unit of a line left", value=_FULFILLMENT_ORDERS
                    ),
                ),
                **problem_responses(*READ_ERRORS),
            },
        ),
    )
    async def order_fulfillment_orders(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        order_id: Annotated[int, ORDER_ID],
    ) -> OrderFulfillmentOrders:
        """The order's fulfillment orders as Shopify holds them now (closed ones too), each
        with its assigned location and, per line, the order's line item, SKU, and the units
        ordered and still to ship: what a shipment's lines are matched against before a
        fulfillment is sent. 404 if the shop has no such order."""
        return await fulfillment_sender(request).fulfillment_orders(shop, order_id)

    @post(
        "/orders/{order_id:int}/fulfillments",
        operation_id="sendShopifyOrderFulfillment",
        summary="Record one shipment as a fulfillment, exactly once per key",
        status_code=201,
        **requires(
            "shopify:write",
            responses={
                200: _answer(
                    OrderFulfillment,
                    "Shopify already held the fulfillment for this key: nothing was sent",
                    Example(summary="Found after an unanswered first attempt", value=_FULFILLED),
                ),
                201: _answer(
                    OrderFulfillment,
                    "The fulfillment, made now",
                    Example(summary="Two packages", value=_FULFILLED),
                ),
                **problem_responses(*WRITE_ERRORS),
            },
        ),
    )
    async def send(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        order_id: Annotated[int, ORDER_ID],
        data: Annotated[FulfillmentSend, Body(title="The shipment", examples=SEND_EXAMPLES)],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[OrderFulfillment]:
        """`fulfillmentCreate` with every tracking number and URL. `Idempotency-Key` names
        the shipment (e.g. `erp-eu:shipment:4711`): Shopify's `fulfillmentCreate` takes no
        idempotency key, so a retry after a timeout or a crash looks for the fulfillment on
        the order and answers 200 with it rather than shipping twice; 201 when made now. 409
        `fulfillment-send-in-flight` (with `Retry-After`) while an unanswered earlier attempt
        may still be running at Shopify; 422 `idempotency-key-reused` for the same key with
        other lines or tracking, `fulfillment-order-not-on-order` for a fulfillment order or
        line that is not the order's, `shopify-user-errors` when Shopify refuses (a closed
        fulfillment order, a quantity over what is left, fulfillment orders of several
        locations)."""
        fulfillment, created = await fulfillment_sender(request).send(
            shop, order_id, data, idempotency_key
        )
        return Response(fulfillment, status_code=201 if created else 200)

    @route(
        "/orders/{order_id:int}/fulfillments",
        http_method=[HttpMethod.OPTIONS],
        include_in_schema=False,
        sync_to_thread=False,
    )
    def allow_on_order_fulfillments(self) -> Response[None]:
        """What the order's fulfillments path allows (Litestar's own answer names only the
        first handler registered on a path)."""
        return Response(None, status_code=204, headers={"Allow": "GET, OPTIONS, POST"})

    @get(
        "/fulfillments/{fulfillment_id:int}",
        operation_id="getShopifyFulfillment",
        summary="One fulfillment with tracking",
        **requires(
            "shopify:read",
            responses={
                200: _answer(
                    OrderFulfillment,
                    "The fulfillment",
                    Example(summary="Shipped", value=_FULFILLED),
                ),
                **problem_responses(*READ_ERRORS),
            },
        ),
    )
    async def fulfillment(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        fulfillment_id: Annotated[int, FULFILLMENT_ID],
    ) -> OrderFulfillment:
        """The fulfillment as Shopify holds it now (404 if none)."""
        return await fulfillment_sender(request).fulfillment(shop, fulfillment_id)

    @post(
        "/fulfillments/{fulfillment_id:int}/tracking",
        operation_id="updateShopifyFulfillmentTracking",
        summary="Correct a fulfillment's tracking",
        status_code=200,
        **requires(
            "shopify:write",
            responses={
                200: _answer(
                    OrderFulfillment,
                    "The fulfillment with its new tracking",
                    Example(summary="Corrected", value=_CORRECTED),
                ),
                **problem_responses(*WRITE_ERRORS),
            },
        ),
    )
    async def update_tracking(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        fulfillment_id: Annotated[int, FULFILLMENT_ID],
        data: Annotated[
            TrackingUpdate, Body(title="The tracking from now on", examples=TRACKING_EXAMPLES)
        ],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[OrderFulfillment]:
        """`fulfillmentTrackingInfoUpdate`: the fulfillment's tracking becomes `tracking`
        (every number and URL; the old ones are replaced). 404 for an unknown fulfillment,
        422 when Shopify refuses (e.g. a cancelled fulfillment). Requires `Idempotency-Key`
        (a retry never notifies the customer twice)."""
        return await once(
            request,
            idempotency_key,
            data,
            OrderFulfillment,
            lambda: fulfillment_sender(request).update_tracking(shop, fulfillment_id, data),
        )

    @post(
        "/fulfillments/{fulfillment_id:int}/cancel",
        operation_id="cancelShopifyFulfillment",
        summary="Cancel a fulfillment",
        status_code=200,
        **requires(
            "shopify:write",
            responses={
                200: _answer(
                    OrderFulfillment,
                    "The fulfillment, cancelled",
                    Example(summary="Cancelled", value=_CANCELLED),
                ),
                **problem_responses(*WRITE_ERRORS),
            },
        ),
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        shop: Annotated[str, SHOP],
        fulfillment_id: Annotated[int, FULFILLMENT_ID],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[OrderFulfillment]:
        """`fulfillmentCancel`: its units are unfulfilled again in Shopify (fulfillment orders
        in progress get them back; closed ones are replaced by new open ones at the same
        location). Cancelling a cancelled fulfillment answers it as it is. 404 for an unknown
        fulfillment, 422 when Shopify refuses. Requires `Idempotency-Key`."""
        return await once(
            request,
            idempotency_key,
            {"cancel": fulfillment_id},
            OrderFulfillment,
            lambda: fulfillment_sender(request).cancel(shop, fulfillment_id),
        )
