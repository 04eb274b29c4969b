"""Service-desk API v1: a customer's orders and one order's whole context, for an agent."""

from __future__ import annotations

import math
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from experience_apis.service_desk.schemas import AgentOrderContext, AgentOrderList
from experience_apis.service_desk.service import ServiceDesk
from shared.auth import Principal, ensure_tenant_may_see, normalise_shop, requires
from shared.problems import Unauthorized, problem_responses

SHOP = Parameter(
    title="Shop domain",
    description="e.g. `demo-eu.myshopify.com`",
    min_length=1,
    max_length=255,
    pattern=r"^[A-Za-z0-9.\-_]+$",
)
ORDER_ID = Parameter(
    title="Order id", description="Shopify's numeric order id, or a channel's order id",
    min_length=1, max_length=128, pattern=r"^[A-Za-z0-9:#.\-_]+$",
)  # fmt: skip
EMAIL = Parameter(
    title="Customer email",
    min_length=3,
    max_length=254,
    pattern=r"^[^@/\x00-\x20]+@[^@/\x00-\x20]+$",
)
READ_ERRORS = (400, 429, 502, 503, 504)


def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("user")
    if not isinstance(principal, Principal):
        raise Unauthorized("No verified caller")
    return principal


def _cache_headers(age: float, ttl: float) -> dict[str, str]:
    return {
        "Age": str(math.floor(age)),
        "Cache-Control": f"private, max-age={max(0, math.floor(ttl - age))}",
    }


class ServiceDeskController(Controller):
    path = "/service-desk/v1"
    tags = ["service-desk"]

    @get(
        "/customers/{email:str}/orders",
        operation_id="listCustomerOrdersForAgent",
        summary="A customer's orders in the caller's shops",
        **requires("service-desk:read", responses=problem_responses(*READ_ERRORS)),
    )
    async def customer_orders(
        self,
        request: Request[Any, Any, Any],
        desk: NamedDependency[ServiceDesk],
        email: Annotated[str, EMAIL],
        offset: Annotated[int, Parameter(ge=0, le=10_000)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=50)] = 10,
    ) -> Response[AgentOrderList]:
        """The customer's orders newest first, each with its state and ERP number, limited to
        the shops of the caller's Zendesk account. `age_seconds` (and the `Age` header) say how
        old the answer is: answers are cached for a few seconds."""
        principal = _principal(request)
        shops = None if principal.tenant is None else sorted(principal.tenant.shops)
        listing = await desk.customer_orders(email, shops, offset, limit)
        return Response(
            listing, headers=_cache_headers(listing.age_seconds, desk.settings.cache_ttl)
        )

    @get(
        "/orders/{shop:str}/{order_id:str}/context",
        operation_id="getOrderContextForAgent",
        summary="One order's whole story, for an agent",
        **requires("service-desk:read", responses=problem_responses(*READ_ERRORS, 404)),
    )
    async def order_context(
        self,
        request: Request[Any, Any, Any],
        desk: NamedDependency[ServiceDesk],
        shop: Annotated[str, SHOP],
        order_id: Annotated[str, ORDER_ID],
    ) -> Response[AgentOrderContext]:
        """The order as the customer saw it, its ERP number and status, shipments (ERP
        shipments and Shopify fulfillments, whichever side made them) with carrier and a
        tracking link per parcel (`awaiting_shopify`: shipped by the ERP, not yet in Shopify),
        returns, invoices, credit notes and refunds, open pipeline exceptions and a timeline.
        A part whose system is down is listed in `sections` as `unavailable` and the rest is
        served. Another account's shop answers 404, as an unknown order does."""
        principal = _principal(request)
        # Checked before any read, and concealed: another tenant's orders don't exist here.
        ensure_tenant_may_see(principal, shop, conceal=True)
        if principal.tenant is not None:
            shop = normalise_shop(shop)
        context = await desk.order_context(shop, order_id)
        ttl = desk.settings.cache_ttl if context.complete else desk.settings.partial_cache_ttl
        return Response(context, headers=_cache_headers(context.age_seconds, ttl))
