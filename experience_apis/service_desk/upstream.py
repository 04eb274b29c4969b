"""The orders process API, the one service the service desk calls, with its failures named."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import quote

import httpx
import msgspec

from experience_apis.service_desk.schemas import UpCustomerOrderPage, UpOrderContext
from shared.problems import NotFound, UpstreamError, UpstreamTimeout, UpstreamUnavailable

T = TypeVar("T")


class OrderNotFound(NotFound):
    slug = "order-not-found"
    title = "No system knows this order"


class OrdersApi:
    """Reads order contexts and customers' orders from the orders process API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def order_context(self, shop: str, order_id: str) -> UpOrderContext:
        """The order's context; :class:`OrderNotFound` when no system knows it."""
        path = f"/orders/v1/orders/{quote(shop, safe='')}/{quote(order_id, safe='')}/context"
        response = await self._get(path, {})
        if response.status_code == 404:
            raise OrderNotFound(f"No order {order_id} of {shop} is known")
        return _decode(self._settle(response), UpOrderContext)

    async def customer_orders(
        self, email: str, shops: Sequence[str], offset: int, limit: int
    ) -> UpCustomerOrderPage:
        """A page of the customer's orders in ``shops`` (every shop when empty)."""
        params: dict[str, str | list[str]] = {"offset": str(offset), "limit": str(limit)}
        if shops:
            params["shop"] = list(shops)
        response = await self._get(f"/orders/v1/customers/{quote(email, safe='@')}/orders", params)
        return _decode(self._settle(response), UpCustomerOrderPage)

    async def _get(self, path: str, params: dict[str, str | list[str]]) -> httpx.Response:
        try:
            return await self.client.get(path, params=params)
        except httpx.TimeoutException:
            raise UpstreamTimeout("The orders service did not answer in time") from None
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"The orders service is unreachable ({type(exc).__name__})", retry_after=5
            ) from None

    def _settle(self, response: httpx.Response) -> bytes:
        status = response.status_code
        if status < 300:
            return response.content
        if status == 429 or status >= 500:
            retry = response.headers.get("Retry-After", "5")
            raise UpstreamUnavailable(
                f"The orders service answered {status}",
                retry_after=int(retry) if retry.isdigit() else 5,
            )
        # 400s mean we sent something it refused, 401/403 that our service token is wrong:
        # neither is the agent's doing.
        raise UpstreamError(f"The orders service refused the request ({status})")


def _decode(content: bytes, type_: type[T]) -> T:
    try:
        return msgspec.json.decode(content, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise UpstreamError(f"The orders service answered with an unexpected body: {exc}") from None
