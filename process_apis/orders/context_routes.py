"""Orders process API v1, read side for people: one order's whole context, a customer's orders."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import Parameter, QueryParameter

from process_apis.orders.context_reader import OrderContextReader, OrderUnknown, Unavailable
from process_apis.orders.context_schemas import CustomerOrderPage, OrderContext
from process_apis.orders.customer_index import CustomerOrders
from process_apis.orders.routes import ORDER_ID, SHOP, OrderNotTracked
from shared.auth import requires
from shared.problems import UpstreamUnavailable, problem_responses

EMAIL = Parameter(
    title="Customer email",
    min_length=3,
    max_length=254,
    pattern=r"^[^@/\x00-\x20]+@[^@/\x00-\x20]+$",
)


class OrderContextController(Controller):
    path = "/orders/v1"
    tags = ["orders"]

    @get(
        "/orders/{shop:str}/{order_id:str}/context",
        operation_id="getOrderContext",
        summary="Everything Strata's systems know of one order",
        **requires("orders:read", responses=problem_responses(400, 404, 429, 503)),
    )
    async def context(
        self,
        order_context: NamedDependency[OrderContextReader],
        shop: Annotated[str, SHOP],
        order_id: Annotated[str, ORDER_ID],
    ) -> OrderContext:
        """Pipeline status and exceptions, the ERP order with shipments, invoices and credit
        notes, the Shopify order and its refunds, and a timeline of all their events, read in
        parallel. A section whose system failed or was too slow is `unavailable` with a reason
        and the rest is served (`complete` is then false). 404 when no system knows the order;
        503 when it is unknown to the systems that answered and some did not."""
        try:
            return await order_context.read(shop, order_id)
        except OrderUnknown as exc:
            raise OrderNotTracked(str(exc)) from None
        except Unavailable as exc:
            raise UpstreamUnavailable(
                f"The order is unknown where asked and these failed: {exc}", retry_after=5
            ) from None

    @get(
        "/customers/{email:str}/orders",
        operation_id="listCustomerOrders",
        summary="A customer's recent orders across shops and ERPs",
        **requires("orders:read", responses=problem_responses(400, 429)),
    )
    async def customer_orders(
        self,
        customer_orders: NamedDependency[CustomerOrders],
        email: Annotated[str, EMAIL],
        shop: Annotated[
            list[str] | None,
            QueryParameter(
                max_items=50,
                schema_extra={
                    "items": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 255,
                        "pattern": r"^[A-Za-z0-9.\-_]+$",
                    }
                },
                description="Only these shops (repeat for several); all shops if absent",
            ),
        ] = None,
        offset: Annotated[int, Parameter(ge=0, le=10_000)] = 0,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> CustomerOrderPage:
        """The customer's orders newest first (matched case-insensitively on the email the
        order was placed with), each with its pipeline state and ERP order number."""
        return await customer_orders.page(email, shops=shop or (), offset=offset, limit=limit)


def _provide_reader(state: State) -> OrderContextReader:
    reader: OrderContextReader = state.order_context
    return reader


def _provide_customer_orders(state: State) -> CustomerOrders:
    orders: CustomerOrders = state.customer_orders
    return orders


def context_dependencies() -> dict[str, Any]:
    """The dependencies :class:`OrderContextController` needs, for the app's wiring (the
    reader and the customer orders are built with the service, in ``orders_runtime``)."""
    return {
        "order_context": Provide(_provide_reader, sync_to_thread=False),
        "customer_orders": Provide(_provide_customer_orders, sync_to_thread=False),
    }
