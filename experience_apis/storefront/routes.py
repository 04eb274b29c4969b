"""Storefront experience API v1: stock for product pages and order status for customers."""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter, QueryParameter

from experience_apis.storefront.clients import OrdersClient
from experience_apis.storefront.schemas import CustomerOrderStatus, StorefrontAvailability
from experience_apis.storefront.service import customer_status
from experience_apis.storefront.shelf import Shelf
from shared.auth import OAUTH2_SCHEME, Principal, ensure_tenant_may_see, normalise_shop, requires
from shared.problems import BadRequest, NotFound, ValidationFailed, problem_responses

SHOPIFY_SESSION_SCHEME = "shopifySessionToken"
SKU_PATTERN = r"^[A-Za-z0-9._\-]+$"
SKU_SCHEMA = {"minLength": 1, "maxLength": 64, "pattern": SKU_PATTERN}
MAX_SKUS = 100
_SKU = re.compile(SKU_PATTERN)
# Every SKU of a request in one match (they are joined by a character no SKU holds).
_SKUS = re.compile(r"[A-Za-z0-9._\-]{1,64}(?:,[A-Za-z0-9._\-]{1,64})*")


def storefront_read(*statuses: int) -> dict[str, Any]:
    """``storefront:read`` through an OAuth2 access token or a Shopify session token."""
    route = requires("storefront:read", responses=problem_responses(*statuses))
    route["security"] = [{OAUTH2_SCHEME: ["storefront:read"]}, {SHOPIFY_SESSION_SCHEME: []}]
    return route


class OrderNotFound(NotFound):
    slug = "order-not-found"
    title = "No such order for this shop"


class StorefrontController(Controller):
    path = "/storefront/v1"
    tags = ["storefront"]

    @get(
        "/availability",
        operation_id="getStorefrontAvailability",
        summary="Whether products can be bought now",
        **storefront_read(400, 429, 502, 503, 504),
    )
    async def availability(
        self,
        request: Request[Principal, Any, Any],
        sku: Annotated[
            list[str],
            QueryParameter(
                min_items=1,
                max_items=MAX_SKUS,
                schema_extra={"items": {"type": "string", **SKU_SCHEMA}},
                description=f"Repeat for several SKUs (at most {MAX_SKUS})",
            ),
        ],
    ) -> StorefrontAvailability:
        """For each SKU: `in_stock`, and a stock word (`in_stock`, `low_stock`,
        `out_of_stock`, or `unknown` while an ERP is not answering). An exact quantity is
        given only for low stock ("only 3 left"), where it helps a customer decide.

        Each SKU's answer is kept for a moment (one second by default), so a figure may be
        that much older than the latest reservation: whether stock can really be held is
        decided when it is reserved. Answers given while an ERP is not answering are not
        kept."""
        # The shelf is read from the app's state rather than injected: a route without
        # dependencies skips Litestar's resolution and cleanup steps (measured in process:
        # 82 µs a cached answer instead of 102).
        shelf: Shelf = request.app.state.shelf
        return await shelf.availability(_valid_skus(sku))

    @get(
        "/orders/{order:str}/status",
        operation_id="getCustomerOrderStatus",
        summary="An order's status for its customer",
        **storefront_read(400, 404, 422, 429, 502, 503, 504),
    )
    async def order_status(
        self,
        request: Request[Principal, Any, Any],
        orders: NamedDependency[OrdersClient],
        order: Annotated[
            str,
            Parameter(title="Shopify order id", min_length=1, max_length=20, pattern=r"^[0-9]+$"),
        ],
        shop: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=114,
                pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]{0,99}(\.myshopify\.com)?$",
                description="The shop (`acme.myshopify.com`); only service callers need it, "
                "a Shopify session token names its own shop",
            ),
        ] = None,
    ) -> CustomerOrderStatus:
        """The order's status in customer words (received, confirmed, shipped, delivered,
        cancelled), whether it has shipped, how much of it has (`fulfillment`: unfulfilled,
        partially_shipped, shipped, delivered), and a tracking link per parcel (https only,
        with its carrier) once there are any, whether the ERP or Shopify shipped it. A Shopify
        session token sees its own shop's orders only; any other order is 404. Service
        callers name the shop with `shop` (422 without it)."""
        principal = request.user
        if shop is not None:
            target = normalise_shop(shop)
        elif principal.tenant is not None:
            target = principal.tenant.id
        else:
            raise ValidationFailed(
                "Name the shop with ?shop=",
                errors=[{"field": "query.shop", "message": "required for service callers"}],
            )
        # Another tenant's order is "not found": its existence is not ours to tell.
        ensure_tenant_may_see(principal, target, conceal=True)
        pipeline = await orders.pipeline_status(target, order)
        if pipeline is None or normalise_shop(pipeline.shop) != target:
            raise OrderNotFound(f"No order {order} in this shop")
        return customer_status(order, pipeline)


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
