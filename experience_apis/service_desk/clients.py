"""The orders process API, the one service the service desk calls.

Its failures are the shared sibling client's errors and answer for themselves: a timeout 504,
unavailability and overload 503 with Retry-After, a refusal or an unreadable answer 502
(400s mean we sent something it refused, 401/403 that our service token is wrong: neither is
the agent's doing). Only "no such order" is this service's own word. Each call has one
deadline (``timeout``, from the settings), which covers all of it: the service token, the HTTP
exchange and a retry; past it the call is a :class:`SiblingTimeout` (504).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import httpx

from experience_apis.service_desk.schemas import UpCustomerOrderPage, UpOrderContext
from shared.problems import NotFound
from shared.sibling import InvalidPathParameter, SiblingClient, SiblingNotFound, SiblingTimeout

T = TypeVar("T")

# Seconds an agent's app is told to wait when the orders service names no Retry-After.
RETRY_AFTER = 5


class OrderNotFound(NotFound):
    slug = "order-not-found"
    title = "No system knows this order"


class OrdersApi:
    """Reads order contexts and customers' orders from the orders process API.

    ``timeout`` bounds each call, retries included; ``None`` leaves it to the HTTP client's
    own timeouts.
    """

    def __init__(self, client: httpx.AsyncClient, *, timeout: float | None = None) -> None:
        self.orders = SiblingClient("orders", client, default_retry_after=RETRY_AFTER)
        self.timeout = timeout

    async def _within(self, call: Awaitable[T]) -> T:
        """``call``, cut at the deadline with the orders service's default Retry-After."""
        if self.timeout is None:
            return await call
        try:
            async with asyncio.timeout(self.timeout):
                return await call
        except TimeoutError:
            raise SiblingTimeout(
                self.orders.name,
                f"timed out (no answer within {self.timeout:g} s)",
                retry_after=RETRY_AFTER,
            ) from None

    async def order_context(self, shop: str, order_id: str) -> UpOrderContext:
        """The order's context; :class:`OrderNotFound` when no system knows it."""
        try:
            return await self._within(
                self.orders.get_json(
                    "/orders/v1/orders/{shop}/{order_id}/context",
                    shop=shop,
                    order_id=order_id,
                    type=UpOrderContext,
                )
            )
        except (SiblingNotFound, InvalidPathParameter):
            # "." or ".." is no shop or order id anyone holds, and cannot be sent as one.
            raise OrderNotFound(f"No order {order_id} of {shop} is known") from None

    async def customer_orders(
        self, email: str, shops: Sequence[str], offset: int, limit: int
    ) -> UpCustomerOrderPage:
        """A page of the customer's orders in ``shops`` (every shop when empty)."""
        params: dict[str, str | list[str]] = {"offset": str(offset), "limit": str(limit)}
        if shops:
            params["shop"] = list(shops)
        return await self._within(
            self.orders.get_json(
                "/orders/v1/customers/{email}/orders",
                email=email,
                params=params,
                type=UpCustomerOrderPage,
            )
        )
